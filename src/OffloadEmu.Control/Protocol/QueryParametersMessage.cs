namespace OffloadEmu.Control.Protocol;

/// <summary>Asks for the target's parameters in effect (<see cref="TargetParameters"/>); answered by
/// <see cref="ParametersReplyMessage"/>. No payload.</summary>
internal sealed class QueryParametersMessage : ControlMessage
{
    public override MessageType Type => MessageType.QueryParameters;

    public override void WritePayload(ref MessageWriter w)
    {
    }
}
