using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>An IPv6 address held by value as two host-order 64-bit halves (no allocation).</summary>
public readonly struct Ipv6Address : IEquatable<Ipv6Address>
{
    private readonly ulong _high;
    private readonly ulong _low;

    /// <summary>Creates an address from its two halves, first octet most significant in <paramref name="high"/>.</summary>
    public Ipv6Address(ulong high, ulong low) { _high = high; _low = low; }

    /// <summary>Length in octets.</summary>
    public const int Length = 16;

    /// <summary>The first 64 bits.</summary>
    public ulong High => _high;
    /// <summary>The last 64 bits.</summary>
    public ulong Low => _low;

    /// <summary>::</summary>
    public static Ipv6Address Unspecified => default;

    /// <summary>Reads sixteen network-order bytes.</summary>
    public static Ipv6Address Read(ReadOnlySpan<byte> bytes)
        => new(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));

    /// <summary>Writes sixteen network-order bytes.</summary>
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _high);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _low);
    }

    /// <summary>True for ff00::/8.</summary>
    public bool IsMulticast => (_high >> 56) == 0xFF;

    /// <summary>True for fe80::/10.</summary>
    public bool IsLinkLocal => (_high >> 54) == (0xFE80UL >> 6);

    /// <summary>Parses RFC 5952 / RFC 4291 text (uses the BCL parser; not for hot paths).</summary>
    public static bool TryParse(string text, out Ipv6Address address)
    {
        address = default;
        if (!System.Net.IPAddress.TryParse(text, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return false;
        Span<byte> b = stackalloc byte[16];
        ip.TryWriteBytes(b, out _);
        address = Read(b);
        return true;
    }

    /// <summary>Parses or throws <see cref="FormatException"/>.</summary>
    public static Ipv6Address Parse(string text)
        => TryParse(text, out var a) ? a : throw new FormatException($"'{text}' is not an IPv6 address.");

    /// <summary>Formats per RFC 5952 (lower case, longest zero run compressed), as tcpdump prints it.</summary>
    public override string ToString()
    {
        Span<byte> b = stackalloc byte[16];
        Write(b);
        return new System.Net.IPAddress(b).ToString();
    }

    /// <inheritdoc/>
    public bool Equals(Ipv6Address other) => _high == other._high && _low == other._low;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Ipv6Address a && Equals(a);
    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_high, _low);
    /// <summary>Equality.</summary>
    public static bool operator ==(Ipv6Address a, Ipv6Address b) => a.Equals(b);
    /// <summary>Inequality.</summary>
    public static bool operator !=(Ipv6Address a, Ipv6Address b) => !a.Equals(b);
}
