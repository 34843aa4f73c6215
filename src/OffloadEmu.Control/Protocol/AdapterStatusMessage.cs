using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class AdapterStatusMessage : ControlMessage
{
    public override MessageType Type => MessageType.AdapterStatus;
    public NdisStatus Status { get; init; }
    public required TcpConnectionOffloadCapabilities Capabilities { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U32((uint)Status);
        WireCodec.Capabilities(ref w, Capabilities);
    }
}
