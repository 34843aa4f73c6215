namespace OffloadEmu.Daemon.Options;

/// <summary>The <c>Link</c> section: the device that carries the NIC's frames.</summary>
public sealed class LinkOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Link";

    /// <summary>Device kind. Default <see cref="LinkKind.Tap"/>.</summary>
    public LinkKind Kind { get; set; } = LinkKind.Tap;

    /// <summary>Interface name (e.g. "oe0"); for a created TAP a "%d" pattern ("oe%d") is allowed. Default "oe0".</summary>
    public string Interface { get; set; } = "oe0";

    /// <summary>Tap only: create the TAP (true) or attach to an existing persistent one (false, the default).</summary>
    public bool Create { get; set; }

    /// <summary>Pcap only: a BPF filter in tcpdump syntax; empty = every frame.</summary>
    public string Filter { get; set; } = "";

    /// <summary>Tap only: open with a virtio-net header (IFF_VNET_HDR). Default false.</summary>
    public bool VnetHeader { get; set; }

    /// <summary>Tap only: segmentation-offload mode (implies <see cref="VnetHeader"/>): TSO/LRO through the virtio-net header
    /// with TUNSETOFFLOAD, so the target sends and takes TCP super-segments of up to 64 KiB with partial checksums (the
    /// capture, if any, holds them and says so in its interface description). Not with an impairment. Default false.</summary>
    public bool SegmentationOffload { get; set; }

    /// <summary>Tap, packet, pcap: hold the interface promiscuous (packet, pcap). Default true.</summary>
    public bool Promiscuous { get; set; } = true;

    /// <summary>The MAC the device reports as this side's own; empty = derived (tap) or the interface's (packet, pcap).</summary>
    public string MacAddress { get; set; } = "";

    /// <summary>IP MTU; null (or 0) = read from the interface (memory: 1500).</summary>
    public int? Mtu { get; set; }

    /// <summary>Tap, packet, pcap: first wait (milliseconds) before the daemon tries to open its device again after
    /// losing it (interface deleted, device unplugged); doubled after each failed try up to
    /// <see cref="ReattachMaxDelayMilliseconds"/>. 10..60000, default 250.</summary>
    public int ReattachDelayMilliseconds { get; set; } = 250;

    /// <summary>Longest wait between two tries to open a lost device again. 10..600000, default 5000.</summary>
    public int ReattachMaxDelayMilliseconds { get; set; } = 5000;
}
