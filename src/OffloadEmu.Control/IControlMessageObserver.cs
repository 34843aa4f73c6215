namespace OffloadEmu.Control;

/// <summary>
/// Sees every control message a <see cref="Server.ControlServer"/> receives or sends, as framed on the wire (header and
/// payload), e.g. to mirror them into a capture next to the wire frames (<see cref="ExportedPdu"/>, docs/control.md).
/// </summary>
/// <remarks>Called on the session's receive loop (client to server) and send loop (server to client); the span is valid
/// only during the call. Must not block.</remarks>
public interface IControlMessageObserver
{
    /// <summary>One message of session <paramref name="sessionId"/>; <paramref name="fromClient"/> gives the direction.</summary>
    void OnMessage(long sessionId, bool fromClient, ReadOnlySpan<byte> message);
}
