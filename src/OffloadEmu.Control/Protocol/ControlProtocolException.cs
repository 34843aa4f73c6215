namespace OffloadEmu.Control.Protocol;

/// <summary>A control message broke the protocol; the connection is answered with an error and closed.</summary>
public sealed class ControlProtocolException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ControlProtocolException(ProtocolError error, string message) : base(message) => Error = error;

    /// <summary>The error code sent to the peer.</summary>
    public ProtocolError Error { get; }
}
