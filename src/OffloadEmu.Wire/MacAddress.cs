using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>A 48-bit IEEE 802 MAC address held by value (no allocation).</summary>
public readonly struct MacAddress : IEquatable<MacAddress>
{
    // The six octets in the low 48 bits, first octet most significant.
    private readonly ulong _value;

    private MacAddress(ulong value) => _value = value & 0xFFFF_FFFF_FFFFUL;

    /// <summary>Length of a MAC address in octets.</summary>
    public const int Length = 6;

    /// <summary>The broadcast address ff:ff:ff:ff:ff:ff.</summary>
    public static MacAddress Broadcast => new(0xFFFF_FFFF_FFFFUL);

    /// <summary>The all-zero address.</summary>
    public static MacAddress Zero => default;

    /// <summary>Reads a MAC address from the first six bytes of <paramref name="bytes"/>.</summary>
    public static MacAddress Read(ReadOnlySpan<byte> bytes)
        => new(((ulong)BinaryPrimitives.ReadUInt16BigEndian(bytes) << 32) | BinaryPrimitives.ReadUInt32BigEndian(bytes[2..]));

    /// <summary>Writes the six octets to <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(_value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)_value);
    }

    /// <summary>The address as a 48-bit integer, first octet most significant.</summary>
    public ulong ToUInt64() => _value;

    /// <summary>Builds an address from a 48-bit integer, first octet most significant.</summary>
    public static MacAddress FromUInt64(ulong value) => new(value);

    /// <summary>True for ff:ff:ff:ff:ff:ff.</summary>
    public bool IsBroadcast => _value == 0xFFFF_FFFF_FFFFUL;

    /// <summary>True when the group bit (least significant bit of the first octet) is set.</summary>
    public bool IsMulticast => ((_value >> 40) & 1) != 0;

    /// <summary>True when the locally administered bit is set.</summary>
    public bool IsLocallyAdministered => ((_value >> 40) & 2) != 0;

    /// <summary>Parses "aa:bb:cc:dd:ee:ff" (or with '-').</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out MacAddress address)
    {
        address = default;
        if (text.Length != 17) return false;
        ulong v = 0;
        for (int i = 0; i < 6; i++)
        {
            if (i > 0 && text[i * 3 - 1] != ':' && text[i * 3 - 1] != '-') return false;
            if (!byte.TryParse(text.Slice(i * 3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b)) return false;
            v = (v << 8) | b;
        }
        address = new MacAddress(v);
        return true;
    }

    /// <summary>Parses "aa:bb:cc:dd:ee:ff" or throws <see cref="FormatException"/>.</summary>
    public static MacAddress Parse(string text)
        => TryParse(text, out var a) ? a : throw new FormatException($"'{text}' is not a MAC address (expected aa:bb:cc:dd:ee:ff).");

    /// <summary>Formats into <paramref name="destination"/> as lower-case "aa:bb:cc:dd:ee:ff".</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten)
    {
        charsWritten = 0;
        if (destination.Length < 17) return false;
        const string hex = "0123456789abcdef";
        for (int i = 0; i < 6; i++)
        {
            int b = (int)(_value >> (40 - 8 * i)) & 0xFF;
            if (i > 0) destination[i * 3 - 1] = ':';
            destination[i * 3] = hex[b >> 4];
            destination[i * 3 + 1] = hex[b & 0xF];
        }
        charsWritten = 17;
        return true;
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        Span<char> buf = stackalloc char[17];
        TryFormat(buf, out _);
        return new string(buf);
    }

    /// <inheritdoc/>
    public bool Equals(MacAddress other) => _value == other._value;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is MacAddress m && Equals(m);
    /// <inheritdoc/>
    public override int GetHashCode() => _value.GetHashCode();
    /// <summary>Equality.</summary>
    public static bool operator ==(MacAddress a, MacAddress b) => a._value == b._value;
    /// <summary>Inequality.</summary>
    public static bool operator !=(MacAddress a, MacAddress b) => a._value != b._value;
}
