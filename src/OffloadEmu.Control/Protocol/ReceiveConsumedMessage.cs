using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class ReceiveConsumedMessage : ControlMessage
{
    public override MessageType Type => MessageType.ReceiveConsumed;
    public ulong Context { get; init; }
    public uint Bytes { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U64(Context);
        w.U32(Bytes);
    }
}
