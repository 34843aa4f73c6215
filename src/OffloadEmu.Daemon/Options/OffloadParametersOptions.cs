namespace OffloadEmu.Daemon.Options;

/// <summary>
/// The <c>Offload</c> section: OID_TCP_CONNECTION_OFFLOAD_PARAMETERS as the host would set them.
/// Every *Ticks value counts ticks of <see cref="TicksPerSecond"/>.
/// </summary>
/// <remarks>Chimney spec §6.9 (parameters) and §6.8 (timers). Defaults follow Windows.</remarks>
public sealed class OffloadParametersOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Offload";

    /// <summary>Timer resolution of the target: 10, 100 or 1000. Default 1000.</summary>
    public int TicksPerSecond { get; set; } = 1000;

    /// <summary>Segments received before an ACK is sent at once (1 = ACK every segment). Default 2.</summary>
    public int TcpAckFrequency { get; set; } = 2;

    /// <summary>Delayed-ACK timeout in ticks; at most 500 ms (RFC 1122 4.2.3.2). Default 200 (200 ms).</summary>
    public int TcpDelayedAckTicks { get; set; } = 200;

    /// <summary>Retransmissions of one segment before the target asks for an upload. Default 5.</summary>
    public int TcpMaximumRetransmissions { get; set; } = 5;

    /// <summary>Retransmissions after which the neighbour's reachability is in doubt. Default 3.</summary>
    public int TcpDoubtReachabilityRetransmissions { get; set; } = 2;

    /// <summary>Sender silly-window-syndrome override timer in ticks (RFC 1122 4.2.3.4: 0.1 s to 1 s). Default 500.</summary>
    public int TcpSwsPreventionTicks { get; set; } = 1000;

    /// <summary>Duplicate ACKs that trigger a fast retransmit (RFC 5681). Default 3.</summary>
    public int TcpDuplicateAckThreshold { get; set; } = 3;

    /// <summary>How long received data without PSH may wait before it is indicated, in ticks. Default 500.</summary>
    public int TcpPushTicks { get; set; } = 500;

    /// <summary>Ticks without forward progress after which a neighbour is stale (reachability query). Default 30000 (30 s).</summary>
    public int NceStaleTicks { get; set; } = 30000;
}
