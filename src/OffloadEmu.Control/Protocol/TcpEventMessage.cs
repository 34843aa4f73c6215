using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class TcpEventMessage : ControlMessage
{
    public override MessageType Type => MessageType.TcpEvent;
    public ulong Handle { get; init; }
    public TcpOffloadEventType EventType { get; init; }
    public uint Info { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U64(Handle);
        w.U32((uint)EventType);
        w.U32(Info);
    }

    public static TcpEventMessage Read(ref MessageReader r)
    {
        ulong handle = r.U64();
        uint type = r.U32();
        if (type is < 1 or > 4) throw MessageReader.Malformed($"event type {type}");
        return new TcpEventMessage { Handle = handle, EventType = (TcpOffloadEventType)type, Info = r.U32() };
    }
}
