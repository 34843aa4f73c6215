namespace OffloadEmu.Control.Protocol;

/// <summary>The code of an <see cref="MessageType.Error"/> message.</summary>
public enum ProtocolError : ushort
{
    /// <summary>A payload that does not decode (truncated, bad field, trailing bytes).</summary>
    Malformed = 1,
    /// <summary>A payload longer than the maximum message size.</summary>
    Oversized = 2,
    /// <summary>A message out of order: anything before the hello, a second hello.</summary>
    OutOfOrder = 3,
    /// <summary>An unknown message type, or a server-to-client type sent by a client.</summary>
    UnknownType = 4,
    /// <summary>The hello's magic number is wrong.</summary>
    BadMagic = 5,
    /// <summary>The hello's version is not supported.</summary>
    VersionMismatch = 6,
    /// <summary>The client did not read fast enough (its outgoing queue passed the bound), or stalled in the middle of
    /// a message longer than the read timeout.</summary>
    TooSlow = 7,
    /// <summary>The server is stopping.</summary>
    Shutdown = 8,
    /// <summary>An internal error of the server while serving the request.</summary>
    Internal = 9,
    /// <summary>A request a monitor session may not make (it may only query; docs/control.md, sessions).</summary>
    NotPermitted = 10,
}
