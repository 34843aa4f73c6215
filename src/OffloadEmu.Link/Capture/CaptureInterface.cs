namespace OffloadEmu.Link.Capture;

/// <summary>One interface described by a capture file (a pcapng IDB, or the single link of a pcap file).</summary>
/// <param name="Index">Index within its pcapng section (0 for pcap).</param>
/// <param name="Name">The <c>if_name</c> option, or null when absent.</param>
/// <param name="LinkType">LINKTYPE_* value (1 = Ethernet).</param>
/// <param name="SnapLength">Largest number of bytes stored per frame (0 = no limit).</param>
public sealed record CaptureInterface(int Index, string? Name, int LinkType, int SnapLength)
{
    /// <summary>The pcapng if_description option (null when absent): e.g. that the link does segmentation offload.</summary>
    public string? Description { get; init; }
}
