using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

/// <summary>TcpSend / TcpReceive / TcpForward (a chain) and TcpDisconnect (one NBL and flags) on a context.</summary>
internal sealed class IoRequestMessage(MessageType type) : ControlMessage
{
    public override MessageType Type { get; } = type;
    public ulong Context { get; init; }
    public TcpDisconnectFlags Flags { get; init; }
    public required NetBufferList Chain { get; init; }

    /// <summary>Client side: the wire id of each NBL; null = <see cref="NetBufferList.RequestId"/>.</summary>
    public Func<NetBufferList, ulong>? Ids { get; init; }

    private NblMode Mode => Type == MessageType.TcpReceive ? NblMode.Post : NblMode.Data;

    public override void WritePayload(ref MessageWriter w)
    {
        w.U64(Context);
        if (Type == MessageType.TcpDisconnect)
        {
            w.U32((uint)Flags);
            WireCodec.Nbl(ref w, Chain, NblMode.Data, Ids);
        }
        else
        {
            WireCodec.Chain(ref w, Chain, Mode, Ids);
        }
    }

    public static IoRequestMessage Read(MessageType type, ref MessageReader r)
    {
        ulong context = r.U64();
        if (type == MessageType.TcpDisconnect)
        {
            uint flags = r.U32();
            if (flags is not (1 or 2)) throw MessageReader.Malformed($"disconnect flags {flags}");
            return new IoRequestMessage(type) { Context = context, Flags = (TcpDisconnectFlags)flags, Chain = WireCodec.ReadNbl(ref r, NblMode.Data) };
        }
        var chain = WireCodec.ReadChain(ref r, type == MessageType.TcpReceive ? NblMode.Post : NblMode.Data)
            ?? throw MessageReader.Malformed("empty chain");
        return new IoRequestMessage(type) { Context = context, Chain = chain };
    }

    public override void Release() => WireCodec.ReleaseChain(Chain);
}
