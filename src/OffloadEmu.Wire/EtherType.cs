namespace OffloadEmu.Wire;

/// <summary>EtherType values the codecs understand (IEEE 802.3 / IANA).</summary>
public enum EtherType : ushort
{
    /// <summary>IPv4.</summary>
    Ipv4 = 0x0800,
    /// <summary>ARP.</summary>
    Arp = 0x0806,
    /// <summary>802.1Q VLAN tag (C-tag).</summary>
    Vlan = 0x8100,
    /// <summary>IPv6.</summary>
    Ipv6 = 0x86DD,
}
