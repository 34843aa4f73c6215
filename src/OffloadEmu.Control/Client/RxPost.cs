using OffloadEmu.Chimney;

namespace OffloadEmu.Control.Client;

/// <summary>A receive post of the host held by the client until it completes (docs/control.md, indications).</summary>
internal sealed class RxPost(NetBufferList nbl)
{
    public NetBufferList Nbl { get; } = nbl;

    /// <summary>Where the next byte goes: after what the host pre-filled and what the client placed.</summary>
    public int Filled => Nbl.TcpReceiveBytesTransferred + Nbl.TcpOffloadBytesTransferred;

    public int Capacity { get; } = (int)Math.Min(int.MaxValue, nbl.DataLength);
}
