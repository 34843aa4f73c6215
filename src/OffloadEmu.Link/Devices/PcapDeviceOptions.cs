using OffloadEmu.Wire;

namespace OffloadEmu.Link.Devices;

/// <summary>How to open an interface through libpcap (Linux) or Npcap (Windows).</summary>
public sealed class PcapDeviceOptions
{
    /// <summary>The libpcap device name (e.g. "eth0", or "\Device\NPF_{GUID}" with Npcap). Required.</summary>
    public string InterfaceName { get; init; } = "";

    /// <summary>A BPF filter in tcpdump syntax compiled by libpcap (e.g. "ether host 02:00:00:00:00:01 or arp"); null = all frames.</summary>
    public string? Filter { get; init; }

    /// <summary>Open in promiscuous mode. Default true.</summary>
    public bool Promiscuous { get; init; } = true;

    /// <summary>Capture only incoming frames (pcap_setdirection PCAP_D_IN) so our own sends are not read back. Default true.</summary>
    public bool IncomingOnly { get; init; } = true;

    /// <summary>Kernel capture buffer size in bytes; null keeps libpcap's default (2 MiB on Linux).</summary>
    public int? BufferSizeBytes { get; init; }

    /// <summary>The MAC to report; null reads the interface's MAC (Linux only; required elsewhere).</summary>
    public MacAddress? MacAddress { get; init; }

    /// <summary>IP MTU; null reads it from the interface on Linux and assumes 1500 elsewhere.</summary>
    public int? Mtu { get; init; }
}
