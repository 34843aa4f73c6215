namespace OffloadEmu.Tcp;

/// <summary>A point on the machine's monotonic microsecond clock. The machine never reads a clock: the owner passes
/// the current instant to every call.</summary>
/// <remarks>Chimney spec §6.8–6.9: timers run in ticks of 1/<c>TicksPerSecond</c> (10, 100 or 1000); conversion to and
/// from ticks is explicit (<see cref="FromTicks"/>, <see cref="ToTicks"/>) so the microsecond clock stays exact.</remarks>
public readonly struct Instant : IEquatable<Instant>, IComparable<Instant>
{
    /// <summary>Creates an instant from microseconds since the clock's origin.</summary>
    public Instant(long microseconds) => Microseconds = microseconds;

    /// <summary>The earliest instant; <see cref="TcpMachine.PollAt"/> returns it to mean "dispatch now".</summary>
    public static Instant MinValue => new(long.MinValue);

    /// <summary>The latest instant; used as "never".</summary>
    public static Instant MaxValue => new(long.MaxValue);

    /// <summary>The origin of the clock.</summary>
    public static Instant Zero => default;

    /// <summary>Microseconds since the origin.</summary>
    public long Microseconds { get; }

    /// <summary>Milliseconds since the origin (floor for non-negative instants).</summary>
    public long Milliseconds => Microseconds / 1000;

    /// <summary>An instant from microseconds.</summary>
    public static Instant FromMicroseconds(long microseconds) => new(microseconds);

    /// <summary>An instant from milliseconds.</summary>
    public static Instant FromMilliseconds(long milliseconds) => new(milliseconds * 1000);

    /// <summary>An instant from seconds.</summary>
    public static Instant FromSeconds(long seconds) => new(seconds * 1_000_000);

    /// <summary>An instant from chimney ticks at <paramref name="ticksPerSecond"/>.</summary>
    public static Instant FromTicks(long ticks, int ticksPerSecond) => new(ticks * (1_000_000 / ticksPerSecond));

    /// <summary>Whole chimney ticks since the origin at <paramref name="ticksPerSecond"/> (floor).</summary>
    public long ToTicks(int ticksPerSecond) => Microseconds / (1_000_000 / ticksPerSecond);

    /// <summary>This instant moved by <paramref name="microseconds"/>, saturating at <see cref="MaxValue"/>.</summary>
    public Instant AddMicroseconds(long microseconds)
    {
        long sum = unchecked(Microseconds + microseconds);
        // Saturate instead of wrapping so that "never" stays never.
        if (microseconds > 0 && sum < Microseconds) return MaxValue;
        return new(sum);
    }

    /// <summary>This instant moved by <paramref name="duration"/>.</summary>
    public static Instant operator +(Instant instant, TimeSpan duration) => instant.AddMicroseconds(duration.Ticks / 10);

    /// <summary>The time from <paramref name="b"/> to <paramref name="a"/>.</summary>
    public static TimeSpan operator -(Instant a, Instant b) => TimeSpan.FromTicks((a.Microseconds - b.Microseconds) * 10);

    /// <summary>Earlier than.</summary>
    public static bool operator <(Instant a, Instant b) => a.Microseconds < b.Microseconds;

    /// <summary>Later than.</summary>
    public static bool operator >(Instant a, Instant b) => a.Microseconds > b.Microseconds;

    /// <summary>Not later than.</summary>
    public static bool operator <=(Instant a, Instant b) => a.Microseconds <= b.Microseconds;

    /// <summary>Not earlier than.</summary>
    public static bool operator >=(Instant a, Instant b) => a.Microseconds >= b.Microseconds;

    /// <summary>Equality.</summary>
    public static bool operator ==(Instant a, Instant b) => a.Microseconds == b.Microseconds;

    /// <summary>Inequality.</summary>
    public static bool operator !=(Instant a, Instant b) => a.Microseconds != b.Microseconds;

    /// <summary>The earlier of two instants.</summary>
    public static Instant Min(Instant a, Instant b) => a.Microseconds <= b.Microseconds ? a : b;

    /// <summary>The later of two instants.</summary>
    public static Instant Max(Instant a, Instant b) => a.Microseconds >= b.Microseconds ? a : b;

    /// <inheritdoc/>
    public bool Equals(Instant other) => Microseconds == other.Microseconds;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Instant i && i.Microseconds == Microseconds;

    /// <inheritdoc/>
    public override int GetHashCode() => Microseconds.GetHashCode();

    /// <inheritdoc/>
    public int CompareTo(Instant other) => Microseconds.CompareTo(other.Microseconds);

    /// <summary>Seconds with six decimals.</summary>
    public override string ToString()
        => Microseconds == long.MaxValue ? "never"
            : (Microseconds / 1_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture) + "."
              + Math.Abs(Microseconds % 1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture);
}
