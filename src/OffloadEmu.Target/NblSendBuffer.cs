using OffloadEmu.Chimney;
using OffloadEmu.Tcp;

namespace OffloadEmu.Target;

/// <summary>
/// A host send NBL as the TCP machine's send buffer: the machine reads the host's bytes for every (re)transmission, no
/// copy (spec §5, architecture §4). Pooled per engine. Outstanding data handed over at initiate starts at the NB's current
/// data offset, which is SndUna (spec §5), so the machine sees it from byte 0.
/// </summary>
internal sealed class NblSendBuffer : ITcpSendBuffer
{
    public NetBufferList List { get; private set; } = null!;

    /// <summary>Length in bytes at the time the request was taken.</summary>
    public int Length { get; private set; }

    /// <summary>The data of a graceful disconnect: completed with the disconnect, not as a send.</summary>
    public bool IsDisconnect { get; private set; }

    public void Set(NetBufferList list, bool isDisconnect)
    {
        List = list;
        Length = (int)Math.Min(int.MaxValue, list.DataLength);
        IsDisconnect = isDisconnect;
    }

    public void Clear()
    {
        List = null!;
        Length = 0;
        IsDisconnect = false;
    }

    public void CopyTo(int offset, Span<byte> destination) => List.CopyTo(offset, destination);
}
