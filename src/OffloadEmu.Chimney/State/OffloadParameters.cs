namespace OffloadEmu.Chimney.State;

/// <summary>
/// The host's settings for offloaded connections (NDIS_TCP_CONNECTION_OFFLOAD_PARAMETERS, set through
/// OID_TCP_CONNECTION_OFFLOAD_PARAMETERS).
/// </summary>
/// <remarks>
/// <para>
/// Chimney spec §6.9 (and §6.8 for the timers they drive). Every "Ticks" value, and every tick-valued state variable,
/// is in units of 1 / <see cref="TicksPerSecond"/> s. Field widths follow the NDIS structure (UCHAR fields are bytes).
/// </para>
/// <para>
/// The property initialisers are Windows-like defaults expressed at the default 1000 ticks per second. Because the
/// tick-valued defaults depend on the tick rate, build parameters for another rate with
/// <see cref="ForTicksPerSecond"/> rather than by setting only <see cref="TicksPerSecond"/>.
/// </para>
/// </remarks>
public sealed record class OffloadParameters
{
    /// <summary>Default tick rate (spec §6.9).</summary>
    public const uint DefaultTicksPerSecond = 1000;

    /// <summary>Default delayed-ACK timeout in milliseconds (Windows' 200 ms).</summary>
    public const int DefaultDelayedAckMilliseconds = 200;

    /// <summary>Default push timer in milliseconds (Windows' 500 ms, spec §3).</summary>
    public const int DefaultPushMilliseconds = 500;

    /// <summary>Default SWS-avoidance override timeout in milliseconds (upper end of RFC 1122 §4.2.3.4's 0.1-1 s).</summary>
    public const int DefaultSwsPreventionMilliseconds = 1000;

    /// <summary>Default neighbour staleness in milliseconds (Windows' 30 s neighbour-discovery base reachable time).</summary>
    public const int DefaultNceStaleMilliseconds = 30_000;

    /// <summary>Largest delayed-ACK timeout RFC 1122 §4.2.3.2 allows, in milliseconds.</summary>
    public const int MaxDelayedAckMilliseconds = 500;

    /// <summary>Default parameters at 1000 ticks per second.</summary>
    public static OffloadParameters Default { get; } = new();

    /// <summary>Timer resolution: 10, 100 or 1000 ticks per second (spec §6.8).</summary>
    public uint TicksPerSecond { get; init; } = DefaultTicksPerSecond;

    /// <summary>Full-sized segments received before an ACK is sent at once (Windows default 2; 1 = ACK every segment).</summary>
    public byte TcpAckFrequency { get; init; } = 2;

    /// <summary>Delayed-ACK timeout in ticks (default 200 ms worth; 0 = no delayed ACK).</summary>
    public byte TcpDelayedAckTicks { get; init; } = DefaultDelayedAckMilliseconds;

    /// <summary>
    /// Retransmissions of one segment (or persist probes in one round) before the target asks for an upload with
    /// Retrieve(TimeoutExpiration), unless the cached MaxRT gives a time limit (spec §6.8; Windows default 5).
    /// </summary>
    public byte TcpMaximumRetransmissions { get; init; } = 5;

    /// <summary>
    /// Retransmissions after which the neighbour's reachability is doubted (a reachability query is due before the next
    /// send, spec §6.4). [EMU] default 2, half of <see cref="TcpMaximumRetransmissions"/>.
    /// </summary>
    public byte TcpDoubtReachabilityRetransmissions { get; init; } = 2;

    /// <summary>SWS-avoidance override timer in ticks (default 1 s worth; the timer itself is optional, spec §5).</summary>
    public uint TcpSwsPreventionTicks { get; init; } = DefaultSwsPreventionMilliseconds;

    /// <summary>Duplicate ACKs that trigger a fast retransmit (RFC 5681 default 3).</summary>
    public uint TcpDuplicateAckThreshold { get; init; } = 3;

    /// <summary>Push timer in ticks: how long a partly filled push-mode receive post waits (default 500 ms worth, spec §3).</summary>
    public uint TcpPushTicks { get; init; } = DefaultPushMilliseconds;

    /// <summary>Ticks without forward progress after which a neighbour counts as stale (default 30 s worth, spec §6.4).</summary>
    public uint NceStaleTicks { get; init; } = DefaultNceStaleMilliseconds;

    /// <summary>Windows-like defaults expressed at <paramref name="ticksPerSecond"/> (10, 100 or 1000).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The rate is not 10, 100 or 1000.</exception>
    public static OffloadParameters ForTicksPerSecond(uint ticksPerSecond)
    {
        if (!IsSupportedTickRate(ticksPerSecond))
            throw new ArgumentOutOfRangeException(nameof(ticksPerSecond), ticksPerSecond, TickRateMessage(ticksPerSecond));
        return new OffloadParameters
        {
            TicksPerSecond = ticksPerSecond,
            TcpDelayedAckTicks = (byte)ToTicks(DefaultDelayedAckMilliseconds, ticksPerSecond),
            TcpSwsPreventionTicks = ToTicks(DefaultSwsPreventionMilliseconds, ticksPerSecond),
            TcpPushTicks = ToTicks(DefaultPushMilliseconds, ticksPerSecond),
            NceStaleTicks = ToTicks(DefaultNceStaleMilliseconds, ticksPerSecond),
        };
    }

    /// <summary>True for the tick rates the contract allows: 10, 100 and 1000 per second.</summary>
    public static bool IsSupportedTickRate(uint ticksPerSecond) => ticksPerSecond is 10 or 100 or 1000;

    /// <summary>
    /// Converts a duration to ticks at <see cref="TicksPerSecond"/>, rounding up so that a non-zero duration never
    /// becomes 0 ticks (a 0 timer delta means "expire now").
    /// </summary>
    public uint TicksFromMilliseconds(long milliseconds) => ToTicks(milliseconds, TicksPerSecond);

    /// <summary>The duration of <paramref name="ticks"/> ticks at <see cref="TicksPerSecond"/>.</summary>
    public TimeSpan ToTimeSpan(long ticks) => TimeSpan.FromTicks(ticks * (TimeSpan.TicksPerSecond / TicksPerSecond));

    /// <summary>
    /// Checks every field; returns one message per invalid field, each naming the field, or an empty list when the
    /// parameters are valid.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!IsSupportedTickRate(TicksPerSecond))
        {
            errors.Add(TickRateMessage(TicksPerSecond));
        }
        else if ((long)TcpDelayedAckTicks * 1000 > (long)MaxDelayedAckMilliseconds * TicksPerSecond)
        {
            // Only meaningful with a valid rate; RFC 1122 §4.2.3.2 caps the ACK delay.
            errors.Add($"{nameof(TcpDelayedAckTicks)} = {TcpDelayedAckTicks} is longer than {MaxDelayedAckMilliseconds} ms at {TicksPerSecond} ticks per second (RFC 1122 §4.2.3.2).");
        }
        if (TcpAckFrequency == 0)
            errors.Add($"{nameof(TcpAckFrequency)} must be at least 1 (1 = acknowledge every segment).");
        if (TcpMaximumRetransmissions == 0)
            errors.Add($"{nameof(TcpMaximumRetransmissions)} must be at least 1.");
        if (TcpDoubtReachabilityRetransmissions > TcpMaximumRetransmissions)
            errors.Add($"{nameof(TcpDoubtReachabilityRetransmissions)} = {TcpDoubtReachabilityRetransmissions} exceeds {nameof(TcpMaximumRetransmissions)} = {TcpMaximumRetransmissions}.");
        if (TcpDuplicateAckThreshold == 0)
            errors.Add($"{nameof(TcpDuplicateAckThreshold)} must be at least 1.");
        if (TcpPushTicks == 0)
            errors.Add($"{nameof(TcpPushTicks)} must be at least 1 tick.");
        if (NceStaleTicks == 0)
            errors.Add($"{nameof(NceStaleTicks)} must be at least 1 tick.");
        return errors;
    }

    /// <summary>Throws when <see cref="Validate"/> finds errors, with all messages in one exception.</summary>
    /// <exception cref="ArgumentException">At least one field is invalid.</exception>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0)
            throw new ArgumentException("Invalid offload parameters: " + string.Join(" ", errors));
    }

    private static uint ToTicks(long milliseconds, uint ticksPerSecond)
    {
        if (milliseconds <= 0) return 0;
        long ticks = (milliseconds * ticksPerSecond + 999) / 1000;
        return ticks >= uint.MaxValue ? uint.MaxValue : (uint)ticks;
    }

    private static string TickRateMessage(uint ticksPerSecond)
        => $"{nameof(TicksPerSecond)} = {ticksPerSecond} is not supported; use 10, 100 or 1000.";
}
