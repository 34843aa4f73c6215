namespace OffloadEmu.Tcp;

/// <summary>The connection states of RFC 9293 §3.3.2, numbered as the NDIS chimney <c>TCP_OFFLOAD_STATE_DELEGATED.State</c>
/// (RFC 793 order) so that export is a cast.</summary>
/// <remarks>Chimney spec §2 (TCP delegated state).</remarks>
public enum TcpState
{
    /// <summary>No connection.</summary>
    Closed = 0,
    /// <summary>Waiting for a SYN (passive open).</summary>
    Listen = 1,
    /// <summary>SYN sent, waiting for SYN-ACK.</summary>
    SynSent = 2,
    /// <summary>SYN received and SYN-ACK sent, waiting for its ACK.</summary>
    SynReceived = 3,
    /// <summary>Open: data flows both ways.</summary>
    Established = 4,
    /// <summary>Local close: FIN sent, not yet acknowledged.</summary>
    FinWait1 = 5,
    /// <summary>Our FIN acknowledged, waiting for the peer's FIN.</summary>
    FinWait2 = 6,
    /// <summary>The peer's FIN received, waiting for the local close.</summary>
    CloseWait = 7,
    /// <summary>Both FINs crossed; waiting for the ACK of ours.</summary>
    Closing = 8,
    /// <summary>Closed after the peer; waiting for the ACK of our FIN.</summary>
    LastAck = 9,
    /// <summary>Waiting 2×MSL after the close before the 4-tuple can be reused.</summary>
    TimeWait = 10,
}
