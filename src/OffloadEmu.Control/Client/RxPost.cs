using OffloadEmu.Chimney;

namespace OffloadEmu.Control.Client;

/// <summary>A receive post of the host held by the client until it completes (docs/control.md, indications).</summary>
/// <remarks>The client fills it as the target would (spec §3): its data window is the free space (bytes the host
/// pre-filled lie before it), each byte goes to the window's start and the start advances past it. A struct: a post
/// costs no allocation (the queue holds it by value; its state is the NBL's).</remarks>
internal readonly struct RxPost(NetBufferList nbl)
{
    public NetBufferList Nbl { get; } = nbl;

    /// <summary>Free space left: the data window, which shrinks as bytes are placed.</summary>
    public int Room => (int)Math.Min(int.MaxValue, Nbl.DataLength);
}
