namespace OffloadEmu.Daemon.Options;

/// <summary>Which kind of link device carries the emulated NIC's frames (<c>Link:Kind</c>).</summary>
public enum LinkKind
{
    /// <summary>A Linux TAP interface: the kernel on the other side is the peer.</summary>
    Tap,
    /// <summary>An existing interface through libpcap (Npcap on Windows).</summary>
    Pcap,
    /// <summary>An existing interface through an AF_PACKET raw socket (Linux).</summary>
    Packet,
    /// <summary>An in-memory cable whose other end lives in the same process (tests, demos).</summary>
    Memory,
}
