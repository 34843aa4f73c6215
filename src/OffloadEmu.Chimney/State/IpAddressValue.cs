using OffloadEmu.Wire;

namespace OffloadEmu.Chimney.State;

/// <summary>An IPv4 or IPv6 address held by value: the two address forms a path state object can carry.</summary>
/// <remarks>
/// Chimney spec §2: PATH_OFFLOAD_STATE_CONST carries 4- or 16-byte addresses whose family comes from the block type
/// (Ip4 = 5-8, Ip6 = 9-12). One union type keeps <see cref="PathConstState"/> a single type for both families while the
/// family stays explicit (<see cref="IsIpv6"/>) instead of being guessed from the bytes. The default value is the IPv4
/// address 0.0.0.0.
/// </remarks>
public readonly struct IpAddressValue : IEquatable<IpAddressValue>
{
    // IPv4 lives in the low 32 bits of _low with _high = 0, so the representation is canonical and field-wise
    // comparison is value equality.
    private readonly ulong _high;
    private readonly ulong _low;
    private readonly bool _isIpv6;

    /// <summary>Wraps an IPv4 address.</summary>
    public IpAddressValue(Ipv4Address address)
    {
        _high = 0;
        _low = address.Value;
        _isIpv6 = false;
    }

    /// <summary>Wraps an IPv6 address.</summary>
    public IpAddressValue(Ipv6Address address)
    {
        _high = address.High;
        _low = address.Low;
        _isIpv6 = true;
    }

    /// <summary>True for an IPv6 address, false for IPv4.</summary>
    public bool IsIpv6 => _isIpv6;

    /// <summary>Length of the address in octets as carried in the state object (4 or 16).</summary>
    public int Length => _isIpv6 ? Ipv6Address.Length : Ipv4Address.Length;

    /// <summary>The IPv4 address; throws when this is an IPv6 address.</summary>
    /// <exception cref="InvalidOperationException">The value holds an IPv6 address.</exception>
    public Ipv4Address Ipv4 => !_isIpv6 ? new Ipv4Address((uint)_low) : throw new InvalidOperationException("The address is IPv6, not IPv4.");

    /// <summary>The IPv6 address; throws when this is an IPv4 address.</summary>
    /// <exception cref="InvalidOperationException">The value holds an IPv4 address.</exception>
    public Ipv6Address Ipv6 => _isIpv6 ? new Ipv6Address(_high, _low) : throw new InvalidOperationException("The address is IPv4, not IPv6.");

    /// <summary>Writes the address in network order (4 or 16 bytes) to <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        if (_isIpv6) new Ipv6Address(_high, _low).Write(destination);
        else new Ipv4Address((uint)_low).Write(destination);
    }

    /// <summary>Reads an address of <paramref name="bytes"/>.Length 4 (IPv4) or 16 (IPv6) octets in network order.</summary>
    /// <exception cref="ArgumentException">The span is neither 4 nor 16 bytes long.</exception>
    public static IpAddressValue Read(ReadOnlySpan<byte> bytes) => bytes.Length switch
    {
        Ipv4Address.Length => new IpAddressValue(Ipv4Address.Read(bytes)),
        Ipv6Address.Length => new IpAddressValue(Ipv6Address.Read(bytes)),
        _ => throw new ArgumentException($"An IP address is 4 or 16 bytes, not {bytes.Length}.", nameof(bytes)),
    };

    /// <summary>Wraps an IPv4 address.</summary>
    public static implicit operator IpAddressValue(Ipv4Address address) => new(address);

    /// <summary>Wraps an IPv6 address.</summary>
    public static implicit operator IpAddressValue(Ipv6Address address) => new(address);

    /// <inheritdoc/>
    public bool Equals(IpAddressValue other) => _isIpv6 == other._isIpv6 && _high == other._high && _low == other._low;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is IpAddressValue a && Equals(a);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_high, _low, _isIpv6);

    /// <summary>Equality.</summary>
    public static bool operator ==(IpAddressValue a, IpAddressValue b) => a.Equals(b);

    /// <summary>Inequality.</summary>
    public static bool operator !=(IpAddressValue a, IpAddressValue b) => !a.Equals(b);

    /// <summary>The dotted-quad or RFC 5952 text of the address.</summary>
    public override string ToString() => _isIpv6 ? new Ipv6Address(_high, _low).ToString() : new Ipv4Address((uint)_low).ToString();
}
