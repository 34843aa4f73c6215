namespace OffloadEmu.Cli.Session;

/// <summary>The device behind <c>--link KIND:NAME</c>.</summary>
internal enum LinkKind
{
    /// <summary>A Linux TAP interface (created when absent, attached when it exists).</summary>
    Tap,

    /// <summary>An AF_PACKET raw socket on an Ethernet interface.</summary>
    Packet,

    /// <summary>libpcap / Npcap on an interface.</summary>
    Pcap,
}
