namespace OffloadEmu.Tcp;

/// <summary>Things that happened to a connection which its owner must act on. They accumulate in
/// <see cref="TcpMachine.PendingEvents"/> until <see cref="TcpMachine.TakeEvents"/> reads and clears them; the machine
/// never resolves them silently.</summary>
/// <remarks>Chimney spec §6.2 (FIN → disconnect indication, RST → abort indication), §6.3 (retrieve reasons),
/// §6.8 (timeouts).</remarks>
[Flags]
public enum TcpEvents
{
    /// <summary>Nothing.</summary>
    None = 0,
    /// <summary>The handshake completed (entered ESTABLISHED).</summary>
    Connected = 1 << 0,
    /// <summary>The peer's FIN arrived after all earlier data (receive half closed; chimney TcpIndicateDisconnect).</summary>
    PeerClosed = 1 << 1,
    /// <summary>An acceptable RST aborted the connection (chimney TcpIndicateAbort). RFC 9293 §3.10.7.4.</summary>
    Reset = 1 << 2,
    /// <summary>The retransmission limit (count or MaxRT time) was reached; the retransmit timer is stopped and the
    /// owner must abort or upload (chimney Retrieve(TimeoutExpiration)). RFC 9293 §3.8.3 R2.</summary>
    RetransmitTimeout = 1 << 3,
    /// <summary>Keep-alive probes went unanswered KaProbeCount times. RFC 9293 §3.8.4.</summary>
    KeepAliveTimeout = 1 << 4,
    /// <summary>The FIN_WAIT_2 timer expired; the machine is CLOSED.</summary>
    FinWait2Timeout = 1 << 5,
    /// <summary>TIME-WAIT was entered (the chimney target asks for upload here).</summary>
    TimeWaitEntered = 1 << 6,
    /// <summary>The connection reached CLOSED (after LAST-ACK, TIME-WAIT expiry or an abort).</summary>
    Closed = 1 << 7,
    /// <summary>A valid segment carried URG (chimney Retrieve(ReceivedUrgentData), spec §6.5).</summary>
    UrgentDataReceived = 1 << 8,
    /// <summary>The same data has been retransmitted <c>DoubtReachabilityRetransmissions</c> times (threshold R1 of
    /// RFC 9293 §3.8.3, MUST-20/SHLD-9; chimney <c>TcpDoubtReachabilityRetransmissions</c>): the path or neighbour may be
    /// gone, the owner may ask for reachability confirmation.</summary>
    ReachabilityInDoubt = 1 << 10,
    /// <summary>The zero-window persist probes exceeded TcpMaximumRetransmissions in one round (spec §6.8).</summary>
    PersistTimeout = 1 << 9,
    /// <summary>A SYN-RECEIVED connection that came from a passive open was reset by an acceptable RST, or its SYN-ACK
    /// retransmissions reached the limit, and the machine is back in LISTEN (RFC 9293 §3.10.7.4, MUST-11): bound to the
    /// same local port and remote address, remote port forgotten, connection state and queued buffers dropped, ready for
    /// another SYN. The user of the connection need not be told (it never saw it); an owner that makes one machine per
    /// SYN frees the machine here. Raised instead of <see cref="Reset"/>, <see cref="RetransmitTimeout"/> and
    /// <see cref="Closed"/>.</summary>
    ReturnedToListen = 1 << 11,
}
