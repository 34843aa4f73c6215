using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp.Congestion;

namespace OffloadEmu.Tcp;

/// <summary>Per-connection parameters: the chimney offload parameters (spec §6.9), the TCP cached state (spec §2) and
/// the local policy of the host. Immutable after creation; one instance may serve many connections.</summary>
public sealed record TcpConfig
{
    /// <summary>Timer tick rate (10, 100 or 1000); chimney <c>TicksPerSecond</c>. Tick-valued settings use it.</summary>
    public int TicksPerSecond { get; init; } = 1000;

    /// <summary>The MSS we advertise in our SYN (what we can receive). RFC 9293 §3.7.1.</summary>
    public ushort Mss { get; init; } = 1460;

    /// <summary>Bytes of the bounded receive buffer (in-order data not yet taken by the consumer plus out-of-order data);
    /// the advertised window never exceeds its free space.</summary>
    public int ReceiveBufferSize { get; init; } = 64 * 1024;

    /// <summary>Offer window scaling (RFC 7323 §2).</summary>
    public bool WindowScaling { get; init; } = true;

    /// <summary>Offer timestamps (RFC 7323 §3).</summary>
    public bool Timestamps { get; init; } = true;

    /// <summary>Offer SACK (RFC 2018): when the peer agrees, ACKs carry SACK blocks for out-of-order data and D-SACK
    /// blocks for duplicates (RFC 2883); received blocks drive RFC 6675 loss recovery through the scoreboard, and D-SACKs
    /// undo the window reduction of a recovery that proved spurious.</summary>
    public bool Sack { get; init; }

    /// <summary>HyStart++ (RFC 9406) in the initial slow start of NewReno and CUBIC: leave slow start through Conservative
    /// Slow Start when the round trip time rises by max(4 ms, min(RTT/8, 16 ms)) over the previous round's minimum. On by
    /// default (Linux runs its HyStart with CUBIC, Windows HyStart++); it needs timestamps for the per-ACK RTT samples
    /// and does nothing without them.</summary>
    public bool HyStart { get; init; } = true;

    /// <summary>Nagle's algorithm (chimney cached flag NAGLING_ENABLED). RFC 9293 §3.7.4.</summary>
    public bool Nagle { get; init; } = true;

    /// <summary>Acknowledge at least every this many full segments (chimney <c>TcpAckFrequency</c>; 1 = no delay).</summary>
    public int AckFrequency { get; init; } = 2;

    /// <summary>Delayed-ACK timeout in ticks (chimney <c>TcpDelayedAckTicks</c>); must stay below 500 ms (MUST-40).</summary>
    public int DelayedAckTicks { get; init; } = 200;

    /// <summary>RTO before any RTT sample (RFC 6298 §2.1: 1 s).</summary>
    public TimeSpan InitialRto { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>RTO floor (RFC 6298 §2.4 says 1 s; Linux uses 200 ms).</summary>
    public TimeSpan MinRto { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>RTO cap (RFC 6298 §2.5: at least 60 s).</summary>
    public TimeSpan MaxRto { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Retransmissions of the same data before <see cref="TcpEvents.RetransmitTimeout"/> when <see cref="MaxRT"/>
    /// is 0 (chimney <c>TcpMaximumRetransmissions</c>).</summary>
    public int MaxRetransmissions { get; init; } = 5;

    /// <summary>Chimney cached <c>MaxRT</c> in ticks: 0 = limit by <see cref="MaxRetransmissions"/>, 0xFFFFFFFF = unlimited,
    /// otherwise the time in ticks since the first unanswered retransmission after which the limit is reached.</summary>
    public uint MaxRT { get; init; }

    /// <summary>Retransmissions of the same data after which <see cref="TcpEvents.ReachabilityInDoubt"/> is raised (R1,
    /// chimney <c>TcpDoubtReachabilityRetransmissions</c>; 0 = never).</summary>
    public int DoubtReachabilityRetransmissions { get; init; } = 3;

    /// <summary>Duplicate ACKs that trigger fast retransmit (chimney <c>TcpDuplicateAckThreshold</c>, RFC 5681 §3.2).</summary>
    public int DuplicateAckThreshold { get; init; } = 3;

    /// <summary>Maximum segment lifetime; TIME-WAIT lasts twice this (RFC 9293 §3.4.2).</summary>
    public TimeSpan Msl { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>FIN_WAIT_2 timeout (chimney §6.8: 120 s).</summary>
    public TimeSpan FinWait2Timeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Keep-alive enabled (chimney cached flag KEEP_ALIVE_ENABLED; default off, MUST-25).</summary>
    public bool KeepAlive { get; init; }

    /// <summary>Idle time before the first keep-alive probe, ticks (chimney <c>KaTimeout</c>; MUST-28: ≥ 2 h by default).</summary>
    public uint KaTimeoutTicks { get; init; } = 2 * 3600 * 1000;

    /// <summary>Time between unanswered probes, ticks (chimney <c>KaInterval</c>).</summary>
    public uint KaIntervalTicks { get; init; } = 1000;

    /// <summary>Unanswered probes before <see cref="TcpEvents.KeepAliveTimeout"/> (chimney <c>KaProbeCount</c>).</summary>
    public int KaProbeCount { get; init; } = 10;

    /// <summary>At most one challenge ACK per this interval (RFC 5961 §7).</summary>
    public TimeSpan ChallengeAckInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Most disjoint out-of-order ranges held per connection; an arrival needing one more is dropped and counted.</summary>
    public int MaxReassemblyRanges { get; init; } = 16;

    /// <summary>Creates the congestion controller of a new connection (NewReno when null).</summary>
    public Func<ICongestionControl>? CongestionControlFactory { get; init; }

    /// <summary>ISN and timestamp-offset generator (RFC 6528); a random secret when null.</summary>
    public IsnGenerator? IsnGenerator { get; init; }

    /// <summary>Largest TCP/IPv4 or TCP/IPv6 super-segment's TCP bytes (header included): IP's 16-bit length less the IPv4
    /// header.</summary>
    public const int MaxSuperSegmentBytes = 65_535 - 20;

    /// <summary>
    /// Segmentation offload: the most TCP bytes (header included, at most <see cref="MaxSuperSegmentBytes"/>) one
    /// dispatched segment of new data may carry, for a device that cuts it into segments of
    /// <see cref="TcpMachine.CommittingSegmentSize"/> payload bytes. 0 (default): every segment is wire-sized. A super-segment
    /// holds exactly the segments wire-sized output would send back to back at that moment (windows, congestion window,
    /// Nagle and sender SWS avoidance applied to each); retransmissions stay wire-sized.
    /// </summary>
    public int SuperSegmentBytes { get; init; }

    /// <summary>Write partial TCP checksums (the pseudo-header sum, for a device that completes it: virtio-net NEEDS_CSUM)
    /// instead of full ones. Off by default.</summary>
    public bool PartialChecksum { get; init; }

    /// <summary>Where the receive buffer comes from while the connection buffers data (<see cref="ReceiveBufferPool.Shared"/>
    /// when null). An idle connection holds none (docs/tcp.md, "Receive buffer").</summary>
    public ReceiveBufferPool? ReceiveBufferPool { get; init; }

    /// <summary>A configuration with the defaults.</summary>
    public static TcpConfig Default { get; } = new();

    /// <summary>This configuration with the host's chimney offload parameters applied (tick rate, ACK frequency and
    /// delay, retransmission count, duplicate-ACK threshold).</summary>
    /// <remarks>Chimney spec §6.9 (OID_TCP_CONNECTION_OFFLOAD_PARAMETERS).</remarks>
    public TcpConfig WithOffloadParameters(OffloadParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return this with
        {
            TicksPerSecond = (int)parameters.TicksPerSecond,
            AckFrequency = Math.Max((int)parameters.TcpAckFrequency, 1),
            DelayedAckTicks = parameters.TcpDelayedAckTicks,
            MaxRetransmissions = parameters.TcpMaximumRetransmissions,
            DoubtReachabilityRetransmissions = parameters.TcpDoubtReachabilityRetransmissions,
            DuplicateAckThreshold = (int)parameters.TcpDuplicateAckThreshold,
        };
    }

    /// <summary>This configuration with the TCP cached state applied (keep-alive, Nagle, MaxRT, initial window).</summary>
    /// <remarks>Chimney spec §2 (TCP cached) and §6.7 (update copies cached values only).</remarks>
    public TcpConfig WithCachedState(in TcpCachedState cached)
        => this with
        {
            KeepAlive = (cached.Flags & TcpCachedFlags.KeepAliveEnabled) != 0,
            Nagle = (cached.Flags & TcpCachedFlags.NaglingEnabled) != 0,
            KaProbeCount = cached.KaProbeCount,
            KaTimeoutTicks = cached.KaTimeout,
            KaIntervalTicks = cached.KaInterval,
            MaxRT = cached.MaxRT,
            ReceiveBufferSize = Math.Max(ReceiveBufferSize, (int)Math.Min(cached.InitialRcvWnd, 1u << 30)),
        };

    internal long TickMicroseconds => 1_000_000 / TicksPerSecond;

    internal long TicksToMicroseconds(long ticks) => ticks * TickMicroseconds;
}
