namespace OffloadEmu.Chimney.State;

/// <summary>RFC 793 connection state as exchanged in TCP_OFFLOAD_STATE_DELEGATED (TCP_OFFLOAD_CONNECTION_STATE).</summary>
/// <remarks>
/// Chimney spec §2: the numeric values are the NDIS ones. A connection is never offloaded in Closed, Listen, SynSent,
/// SynRcvd or TimeWait (see <see cref="TcpStateExtensions.IsOffloadable"/>); at terminate the target reports the state
/// the connection reached, which may be any of them (spec §6.6, §9.7).
/// </remarks>
public enum TcpState
{
    /// <summary>No connection (TcpConnectionClosed).</summary>
    Closed = 0,

    /// <summary>Waiting for a SYN (TcpConnectionListen).</summary>
    Listen = 1,

    /// <summary>SYN sent, waiting for SYN-ACK (TcpConnectionSynSent).</summary>
    SynSent = 2,

    /// <summary>SYN received, SYN-ACK sent (TcpConnectionSynRcvd).</summary>
    SynRcvd = 3,

    /// <summary>Open in both directions (TcpConnectionEstablished).</summary>
    Established = 4,

    /// <summary>Our FIN sent, not yet ACKed (TcpConnectionFinWait1).</summary>
    FinWait1 = 5,

    /// <summary>Our FIN ACKed, waiting for the peer's (TcpConnectionFinWait2).</summary>
    FinWait2 = 6,

    /// <summary>Peer's FIN received, ours not yet sent (TcpConnectionCloseWait).</summary>
    CloseWait = 7,

    /// <summary>Both FINs sent, ours not yet ACKed (TcpConnectionClosing).</summary>
    Closing = 8,

    /// <summary>Peer closed first; our FIN sent, awaiting its ACK (TcpConnectionLastAck).</summary>
    LastAck = 9,

    /// <summary>Both FINs exchanged and ACKed, waiting 2 MSL (TcpConnectionTimeWait).</summary>
    TimeWait = 10,
}
