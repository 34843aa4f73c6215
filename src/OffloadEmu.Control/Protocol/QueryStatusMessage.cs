namespace OffloadEmu.Control.Protocol;

/// <summary>Asks for a status snapshot of the daemon (<see cref="Status.StatusSnapshot"/>); answered by
/// <see cref="StatusInfoMessage"/>. Payload: the most connections to list (u32; the server caps it at
/// <see cref="StatusInfoMessage.MaxConnections"/>). Allowed from monitor sessions.</summary>
internal sealed class QueryStatusMessage : ControlMessage
{
    public override MessageType Type => MessageType.QueryStatus;

    /// <summary>The most connections the reply may list.</summary>
    public uint MaxConnections { get; init; } = StatusInfoMessage.MaxConnections;

    public override void WritePayload(ref MessageWriter w) => w.U32(MaxConnections);

    public static QueryStatusMessage Read(ref MessageReader r) => new() { MaxConnections = r.U32() };
}
