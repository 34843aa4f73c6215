namespace OffloadEmu.Wire;

/// <summary>IP protocol / IPv6 next-header numbers (IANA).</summary>
public enum IpProtocol : byte
{
    /// <summary>IPv6 hop-by-hop options.</summary>
    HopByHop = 0,
    /// <summary>ICMP for IPv4.</summary>
    Icmp = 1,
    /// <summary>TCP.</summary>
    Tcp = 6,
    /// <summary>UDP.</summary>
    Udp = 17,
    /// <summary>IPv6 routing header.</summary>
    Ipv6Route = 43,
    /// <summary>IPv6 fragment header.</summary>
    Ipv6Fragment = 44,
    /// <summary>Encapsulating security payload.</summary>
    Esp = 50,
    /// <summary>Authentication header.</summary>
    Ah = 51,
    /// <summary>ICMP for IPv6.</summary>
    Icmpv6 = 58,
    /// <summary>IPv6 no next header.</summary>
    Ipv6NoNext = 59,
    /// <summary>IPv6 destination options.</summary>
    Ipv6Options = 60,
}
