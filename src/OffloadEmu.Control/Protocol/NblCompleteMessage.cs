using OffloadEmu.Chimney;

namespace OffloadEmu.Control.Protocol;

/// <summary>
/// The server's send, forward or disconnect completion encoded straight from the completed NBLs: the same payload as
/// <see cref="IoCompleteMessage"/> (count, then per NBL the client's id, status, bytes transferred and per NB how far its
/// data window moved and what is left), without building <see cref="NblRef"/>s. One instance per thread is reused
/// (<see cref="Rent"/>): encoding is synchronous, nothing keeps the message after the send returns, so a completion
/// allocates nothing, on the completion worker or on the target's engine thread.
/// </summary>
internal sealed class NblCompleteMessage : ControlMessage
{
    [ThreadStatic]
    private static NblCompleteMessage? t_cached;

    private MessageType _type;
    private List<NetBufferList>? _nbls;
    private int _count;

    public override MessageType Type => _type;

    /// <summary>This thread's instance set to the completed NBLs of one session (those not internal are written); call
    /// <see cref="Clear"/> after sending.</summary>
    public static NblCompleteMessage Rent(MessageType type, List<NetBufferList> nbls, int count)
    {
        var m = t_cached ??= new NblCompleteMessage();
        m._type = type;
        m._nbls = nbls;
        m._count = count;
        return m;
    }

    public void Clear() => _nbls = null;

    /// <summary>True for an NBL the server issued itself (a re-arm post, a cleanup disconnect): no client hears of it.</summary>
    public static bool IsInternal(NetBufferList nbl) => ((Server.ServerNbl)nbl.ProtocolReserved!).Internal;

    public override void WritePayload(ref MessageWriter w)
    {
        w.U32((uint)_count);
        foreach (var nbl in _nbls!)
        {
            if (IsInternal(nbl)) continue;
            w.U64(nbl.RequestId);
            w.U32((uint)nbl.Status);
            w.I32(nbl.TcpOffloadBytesTransferred);
            w.I32(0);
            w.Bool(false);
            w.U32((uint)nbl.BufferCount);
            for (int i = 0; i < nbl.BufferCount; i++)
            {
                w.I32(nbl[i].DataOffset);
                w.I32(nbl[i].DataLength);
            }
        }
    }
}
