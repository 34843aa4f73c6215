using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class StatusReplyMessage : ControlMessage
{
    public override MessageType Type => MessageType.StatusReply;
    public NdisStatus Status { get; init; }

    public override void WritePayload(ref MessageWriter w) => w.U32((uint)Status);
}
