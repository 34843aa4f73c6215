using OffloadEmu.Wire;

namespace OffloadEmu.Tcp;

/// <summary>The local and remote IP addresses of a connection, IPv4 or IPv6: what the TCP checksum pseudo-header needs.</summary>
/// <remarks>RFC 9293 §3.1 (pseudo-header), RFC 8200 §8.1.</remarks>
public readonly struct TcpEndpointAddresses : IEquatable<TcpEndpointAddresses>
{
    private TcpEndpointAddresses(bool isIpv6, Ipv4Address local4, Ipv4Address remote4, Ipv6Address local6, Ipv6Address remote6)
    {
        IsIpv6 = isIpv6;
        LocalV4 = local4;
        RemoteV4 = remote4;
        LocalV6 = local6;
        RemoteV6 = remote6;
    }

    /// <summary>IPv4 endpoints.</summary>
    public static TcpEndpointAddresses Ipv4(Ipv4Address local, Ipv4Address remote) => new(false, local, remote, default, default);

    /// <summary>IPv6 endpoints.</summary>
    public static TcpEndpointAddresses Ipv6(Ipv6Address local, Ipv6Address remote) => new(true, default, default, local, remote);

    /// <summary>True for IPv6.</summary>
    public bool IsIpv6 { get; }

    /// <summary>Local IPv4 address (IPv4 only).</summary>
    public Ipv4Address LocalV4 { get; }

    /// <summary>Remote IPv4 address (IPv4 only).</summary>
    public Ipv4Address RemoteV4 { get; }

    /// <summary>Local IPv6 address (IPv6 only).</summary>
    public Ipv6Address LocalV6 { get; }

    /// <summary>Remote IPv6 address (IPv6 only).</summary>
    public Ipv6Address RemoteV6 { get; }

    /// <summary>The same pair seen from the other end.</summary>
    public TcpEndpointAddresses Reversed => new(IsIpv6, RemoteV4, LocalV4, RemoteV6, LocalV6);

    /// <summary>The unfolded pseudo-header sum without the length; the sum is symmetric in source and destination and
    /// linear in the length, so one value serves both directions (add the TCP length).</summary>
    public ulong PseudoHeaderBase => IsIpv6
        ? InternetChecksum.PseudoHeader(LocalV6, RemoteV6, IpProtocol.Tcp, 0)
        : InternetChecksum.PseudoHeader(LocalV4, RemoteV4, IpProtocol.Tcp, 0);

    /// <summary>Writes the local and remote addresses into <paramref name="destination"/> (for the ISN hash); returns bytes written.</summary>
    internal int WriteTo(Span<byte> destination)
    {
        if (IsIpv6)
        {
            LocalV6.Write(destination);
            RemoteV6.Write(destination[16..]);
            return 32;
        }
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(destination, LocalV4.Value);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(destination[4..], RemoteV4.Value);
        return 8;
    }

    /// <inheritdoc/>
    public bool Equals(TcpEndpointAddresses other)
        => IsIpv6 == other.IsIpv6 && LocalV4 == other.LocalV4 && RemoteV4 == other.RemoteV4
           && LocalV6.Equals(other.LocalV6) && RemoteV6.Equals(other.RemoteV6);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TcpEndpointAddresses a && Equals(a);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(IsIpv6, LocalV4, RemoteV4, LocalV6, RemoteV6);

    /// <summary>Equality.</summary>
    public static bool operator ==(TcpEndpointAddresses a, TcpEndpointAddresses b) => a.Equals(b);

    /// <summary>Inequality.</summary>
    public static bool operator !=(TcpEndpointAddresses a, TcpEndpointAddresses b) => !a.Equals(b);
}
