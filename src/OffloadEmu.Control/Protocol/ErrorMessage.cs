using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class ErrorMessage : ControlMessage
{
    public override MessageType Type => MessageType.Error;
    public ProtocolError Code { get; init; }
    public string Text { get; init; } = "";

    public override void WritePayload(ref MessageWriter w)
    {
        w.U16((ushort)Code);
        w.String(Text.Length > 1000 ? Text[..1000] : Text);
    }
}
