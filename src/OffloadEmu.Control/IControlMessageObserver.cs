namespace OffloadEmu.Control;

/// <summary>
/// Sees every control message a <see cref="Server.ControlServer"/> receives or sends, as framed on the wire (header and
/// payload), e.g. to mirror them into a capture next to the wire frames (<see cref="ExportedPdu"/>, docs/control.md).
/// </summary>
/// <remarks>Called on the session's receive loop (client to server) and send loop (server to client); the span is valid
/// only during the call. Must not block.</remarks>
public interface IControlMessageObserver
{
    /// <summary>One message of session <paramref name="sessionId"/>; <paramref name="fromClient"/> gives the direction.
    /// The span starts with the 16-byte header, whose length field gives the whole message's length even when the span
    /// was cut at <see cref="MaxObservedBytes"/>.</summary>
    void OnMessage(long sessionId, bool fromClient, ReadOnlySpan<byte> message);

    /// <summary>The observer looks at no more than this many bytes of a message (header included, at least 16): a longer
    /// message is given cut, so a large payload spread over several buffers is not copied only to be cut by the
    /// observer. Default: everything.</summary>
    int MaxObservedBytes => int.MaxValue;
}
