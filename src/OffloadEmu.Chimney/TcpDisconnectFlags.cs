namespace OffloadEmu.Chimney;

/// <summary>How a disconnect request closes the send half (the Flags of NdisOffloadTcpDisconnect).</summary>
/// <remarks>Chimney spec §1 (values) and §6.1.</remarks>
[Flags]
public enum TcpDisconnectFlags
{
    /// <summary>No flag (not a valid request on its own).</summary>
    None = 0,

    /// <summary>TCP_DISCONNECT_GRACEFUL_CLOSE: send the NBL's data then FIN; completes once data and FIN are ACKed.</summary>
    Graceful = 1,

    /// <summary>TCP_DISCONNECT_ABORTIVE_CLOSE: send RST (the only RST a target originates) and fail pending sends.</summary>
    Abortive = 2,
}
