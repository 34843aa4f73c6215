using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>An IPv4 address held by value as a host-order 32-bit integer (no allocation).</summary>
public readonly struct Ipv4Address : IEquatable<Ipv4Address>, IComparable<Ipv4Address>
{
    private readonly uint _value;

    /// <summary>Creates an address from its host-order integer value (198.18.0.1 = 0xC6120001).</summary>
    public Ipv4Address(uint value) => _value = value;

    /// <summary>Creates an address from four octets.</summary>
    public Ipv4Address(byte a, byte b, byte c, byte d) => _value = ((uint)a << 24) | ((uint)b << 16) | ((uint)c << 8) | d;

    /// <summary>Length in octets.</summary>
    public const int Length = 4;

    /// <summary>0.0.0.0.</summary>
    public static Ipv4Address Any => default;

    /// <summary>255.255.255.255.</summary>
    public static Ipv4Address Broadcast => new(0xFFFF_FFFFu);

    /// <summary>The host-order integer value.</summary>
    public uint Value => _value;

    /// <summary>Reads four network-order bytes.</summary>
    public static Ipv4Address Read(ReadOnlySpan<byte> bytes) => new(BinaryPrimitives.ReadUInt32BigEndian(bytes));

    /// <summary>Writes four network-order bytes.</summary>
    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, _value);

    /// <summary>True for 224.0.0.0/4.</summary>
    public bool IsMulticast => (_value >> 28) == 0xE;

    /// <summary>True for 0.0.0.0.</summary>
    public bool IsUnspecified => _value == 0;

    /// <summary>Parses dotted-quad text.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out Ipv4Address address)
    {
        address = default;
        uint v = 0;
        int part = 0;
        foreach (var range in text.Split('.'))
        {
            var s = text[range];
            if (part == 4 || s.Length == 0 || s.Length > 3 || !byte.TryParse(s, System.Globalization.NumberStyles.None, null, out byte b)) return false;
            v = (v << 8) | b;
            part++;
        }
        if (part != 4) return false;
        address = new Ipv4Address(v);
        return true;
    }

    /// <summary>Parses dotted-quad text or throws <see cref="FormatException"/>.</summary>
    public static Ipv4Address Parse(string text)
        => TryParse(text, out var a) ? a : throw new FormatException($"'{text}' is not an IPv4 address.");

    /// <summary>Formats as dotted quad.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten)
    {
        charsWritten = 0;
        for (int i = 0; i < 4; i++)
        {
            if (i > 0)
            {
                if (charsWritten >= destination.Length) return false;
                destination[charsWritten++] = '.';
            }
            if (!((byte)(_value >> (24 - 8 * i))).TryFormat(destination[charsWritten..], out int n)) return false;
            charsWritten += n;
        }
        return true;
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        Span<char> buf = stackalloc char[15];
        TryFormat(buf, out int n);
        return new string(buf[..n]);
    }

    /// <summary>True when <paramref name="other"/> is in the same /<paramref name="prefixLength"/> network.</summary>
    public bool IsInSameSubnet(Ipv4Address other, int prefixLength)
    {
        uint mask = prefixLength == 0 ? 0 : uint.MaxValue << (32 - prefixLength);
        return (_value & mask) == (other._value & mask);
    }

    /// <inheritdoc/>
    public bool Equals(Ipv4Address other) => _value == other._value;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Ipv4Address a && Equals(a);
    /// <inheritdoc/>
    public override int GetHashCode() => (int)_value;
    /// <inheritdoc/>
    public int CompareTo(Ipv4Address other) => _value.CompareTo(other._value);
    /// <summary>Equality.</summary>
    public static bool operator ==(Ipv4Address a, Ipv4Address b) => a._value == b._value;
    /// <summary>Inequality.</summary>
    public static bool operator !=(Ipv4Address a, Ipv4Address b) => a._value != b._value;
}
