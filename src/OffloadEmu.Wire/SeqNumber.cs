namespace OffloadEmu.Wire;

/// <summary>
/// A TCP sequence (or acknowledgment) number: a 32-bit value compared with serial-number arithmetic so that
/// ordering survives the wrap from 0xFFFFFFFF to 0.
/// </summary>
/// <remarks>
/// RFC 9293 §3.4 and RFC 1982: <c>a &lt; b</c> iff <c>(int)(a - b) &lt; 0</c>. The order is only meaningful between
/// numbers less than 2^31 apart, so this type deliberately does not implement <see cref="IComparable{T}"/>
/// (it is not a total order and must not be used to sort).
/// </remarks>
public readonly struct SeqNumber : IEquatable<SeqNumber>
{
    private readonly uint _value;

    /// <summary>Creates a sequence number from its raw 32-bit value.</summary>
    public SeqNumber(uint value) => _value = value;

    /// <summary>The raw 32-bit value as carried on the wire.</summary>
    public uint Value => _value;

    /// <summary>Advances by <paramref name="offset"/> modulo 2^32.</summary>
    public static SeqNumber operator +(SeqNumber seq, int offset) => new(unchecked(seq._value + (uint)offset));

    /// <summary>Moves back by <paramref name="offset"/> modulo 2^32.</summary>
    public static SeqNumber operator -(SeqNumber seq, int offset) => new(unchecked(seq._value - (uint)offset));

    /// <summary>The signed distance from <paramref name="b"/> to <paramref name="a"/> (positive when <paramref name="a"/> is later).</summary>
    public static int operator -(SeqNumber a, SeqNumber b) => unchecked((int)(a._value - b._value));

    /// <summary>True when <paramref name="a"/> precedes <paramref name="b"/> in serial order.</summary>
    public static bool operator <(SeqNumber a, SeqNumber b) => unchecked((int)(a._value - b._value)) < 0;

    /// <summary>True when <paramref name="a"/> precedes or equals <paramref name="b"/>.</summary>
    public static bool operator <=(SeqNumber a, SeqNumber b) => unchecked((int)(a._value - b._value)) <= 0;

    /// <summary>True when <paramref name="a"/> follows <paramref name="b"/> in serial order.</summary>
    public static bool operator >(SeqNumber a, SeqNumber b) => unchecked((int)(a._value - b._value)) > 0;

    /// <summary>True when <paramref name="a"/> follows or equals <paramref name="b"/>.</summary>
    public static bool operator >=(SeqNumber a, SeqNumber b) => unchecked((int)(a._value - b._value)) >= 0;

    /// <summary>Equality of the raw values.</summary>
    public static bool operator ==(SeqNumber a, SeqNumber b) => a._value == b._value;

    /// <summary>Inequality of the raw values.</summary>
    public static bool operator !=(SeqNumber a, SeqNumber b) => a._value != b._value;

    /// <summary>The later of two numbers in serial order.</summary>
    public static SeqNumber Max(SeqNumber a, SeqNumber b) => a > b ? a : b;

    /// <summary>The earlier of two numbers in serial order.</summary>
    public static SeqNumber Min(SeqNumber a, SeqNumber b) => a < b ? a : b;

    /// <summary>Wraps a raw value.</summary>
    public static explicit operator SeqNumber(uint value) => new(value);

    /// <summary>Unwraps the raw value.</summary>
    public static explicit operator uint(SeqNumber seq) => seq._value;

    /// <inheritdoc/>
    public bool Equals(SeqNumber other) => _value == other._value;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is SeqNumber s && s._value == _value;

    /// <inheritdoc/>
    public override int GetHashCode() => (int)_value;

    /// <summary>The plain unsigned decimal number, as tcpdump -S prints it.</summary>
    public override string ToString() => _value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Formats the unsigned decimal number without allocating.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten)
        => _value.TryFormat(destination, out charsWritten, default, System.Globalization.CultureInfo.InvariantCulture);
}
