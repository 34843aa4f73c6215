namespace OffloadEmu.Link.Capture;

/// <summary>Capture file formats we write and read.</summary>
public enum CaptureFormat
{
    /// <summary>pcapng: interface names, nanosecond timestamps and per-frame direction. The default.</summary>
    PcapNg,
    /// <summary>Classic pcap with nanosecond timestamps (magic 0xa1b23c4d), Ethernet link type; no direction, no names.</summary>
    Pcap,
}
