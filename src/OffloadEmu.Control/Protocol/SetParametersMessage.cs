using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class SetParametersMessage : ControlMessage
{
    public override MessageType Type => MessageType.SetParameters;
    public required OffloadParameters Parameters { get; init; }

    public override void WritePayload(ref MessageWriter w) => WireCodec.Parameters(ref w, Parameters);

    public static SetParametersMessage Read(ref MessageReader r) => new() { Parameters = WireCodec.Parameters(ref r) };
}
