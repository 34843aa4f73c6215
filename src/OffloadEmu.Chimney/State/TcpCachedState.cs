namespace OffloadEmu.Chimney.State;

/// <summary>The host-owned variables of an offloaded TCP connection (TCP_OFFLOAD_STATE_CACHED).</summary>
/// <remarks>
/// Chimney spec §2 and §6.7: set at offload, changed only by Update, not returned at terminate. Times are in ticks of
/// <see cref="OffloadParameters.TicksPerSecond"/>. Bit-field widths of the NDIS structure are enforced by the init
/// accessors (FlowLabel 20 bits, UserPriority 3 bits).
/// </remarks>
public readonly record struct TcpCachedState
{
    private readonly uint _flowLabel;
    private readonly byte _userPriority;

    /// <summary>Largest value of the 20-bit IPv6 flow label.</summary>
    public const uint MaxFlowLabel = 0xF_FFFF;

    /// <summary>Largest value of the 3-bit IEEE 802.1p user priority.</summary>
    public const byte MaxUserPriority = 7;

    /// <summary><see cref="MaxRT"/> value meaning "no time limit on retransmission".</summary>
    public const uint MaxRTUnlimited = 0xFFFF_FFFF;

    /// <summary><see cref="MaxRT"/> value meaning "limit by count: <see cref="OffloadParameters.TcpMaximumRetransmissions"/>".</summary>
    public const uint MaxRTUseRetransmissionCount = 0;

    /// <summary>Keepalive, Nagle and one-shot update requests.</summary>
    public TcpCachedFlags Flags { get; init; }

    /// <summary>Receive window, in bytes, the target advertises when no data is held (upper bound of RcvWnd, spec §10 row 35).</summary>
    public uint InitialRcvWnd { get; init; }

    /// <summary>Hint of how many bytes to indicate at once; 0 = indicate all available data (spec §3).</summary>
    public uint RcvIndicationSize { get; init; }

    /// <summary>Unanswered keepalive probes after which the connection is given up (spec §6.5 default 10).</summary>
    public byte KaProbeCount { get; init; }

    /// <summary>Idle time, in ticks, before the first keepalive probe.</summary>
    public uint KaTimeout { get; init; }

    /// <summary>Time, in ticks, between unanswered keepalive probes (spec §6.5 default 1 s).</summary>
    public uint KaInterval { get; init; }

    /// <summary>
    /// Retransmission time limit in ticks: <see cref="MaxRTUseRetransmissionCount"/> (0) = limit by the count
    /// <see cref="OffloadParameters.TcpMaximumRetransmissions"/>, <see cref="MaxRTUnlimited"/> (0xFFFFFFFF) = never give
    /// up; otherwise TotalRT beyond this raises Retrieve(TimeoutExpiration) (spec §6.8).
    /// </summary>
    public uint MaxRT { get; init; }

    /// <summary>IPv6 flow label, 20 bits (ignored for IPv4).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds 20 bits.</exception>
    public uint FlowLabel
    {
        get => _flowLabel;
        init => _flowLabel = value <= MaxFlowLabel
            ? value
            : throw new ArgumentOutOfRangeException(nameof(FlowLabel), value, $"{nameof(FlowLabel)} is a 20-bit field (0..0x{MaxFlowLabel:X}).");
    }

    /// <summary>IPv4 TTL or IPv6 hop limit of sent segments.</summary>
    public byte TtlOrHopLimit { get; init; }

    /// <summary>IPv4 type of service or IPv6 traffic class of sent segments.</summary>
    public byte TosOrTrafficClass { get; init; }

    /// <summary>IEEE 802.1p priority, 3 bits, put in the VLAN tag (spec §6.5).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds 3 bits.</exception>
    public byte UserPriority
    {
        get => _userPriority;
        init => _userPriority = value <= MaxUserPriority
            ? value
            : throw new ArgumentOutOfRangeException(nameof(UserPriority), value, $"{nameof(UserPriority)} is a 3-bit field (0..{MaxUserPriority}).");
    }
}
