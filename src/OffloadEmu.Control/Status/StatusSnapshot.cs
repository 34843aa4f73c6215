using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;

namespace OffloadEmu.Control.Status;

/// <summary>
/// The daemon at one instant, as `offloademu status` shows it (QueryStatus/StatusInfo, docs/control.md): the daemon, its
/// link, the NIC's capabilities and parameters, the bound host sessions, the per-family offload counters and every
/// offloaded connection (at most the number asked for; <see cref="ConnectionsTotal"/> counts all).
/// </summary>
public sealed record class StatusSnapshot
{
    /// <summary>Most connections one snapshot lists (the protocol's bound; the rest are counted only).</summary>
    public const int MaxConnections = 4096;

    /// <summary>SUCCESS; NOT_SUPPORTED when the server has no status source (only the target's own fields are then
    /// filled); FAILURE when the target did not answer in time (connections missing).</summary>
    public NdisStatus Status { get; init; } = NdisStatus.Success;

    /// <summary>The daemon's version ("" when unknown).</summary>
    public string DaemonVersion { get; init; } = "";

    /// <summary>Time since the daemon started.</summary>
    public TimeSpan Uptime { get; init; }

    /// <summary>When the snapshot was taken (the daemon's clock, UTC).</summary>
    public DateTimeOffset TakenAt { get; init; }

    /// <summary>The link the target runs on.</summary>
    public LinkStatus Link { get; init; } = new();

    /// <summary>Capabilities in force.</summary>
    public TcpConnectionOffloadCapabilities Capabilities { get; init; } = new();

    /// <summary>Offload parameters in force for new connections.</summary>
    public OffloadParameters Parameters { get; init; } = OffloadParameters.Default;

    /// <summary>Frames the target passed up on the non-offload path.</summary>
    public ulong FramesUp { get; init; }

    /// <summary>Frames the target dropped (rings full, suppressed RSTs).</summary>
    public ulong DroppedFrames { get; init; }

    /// <summary>Bound host sessions (monitor sessions are not listed).</summary>
    public IReadOnlyList<SessionStatus> Sessions { get; init; } = [];

    /// <summary>TCP_OFFLOAD_STATS for IPv4.</summary>
    public TcpOffloadStatisticsSnapshot TcpIpv4 { get; init; }

    /// <summary>TCP_OFFLOAD_STATS for IPv6.</summary>
    public TcpOffloadStatisticsSnapshot TcpIpv6 { get; init; }

    /// <summary>IP_OFFLOAD_STATS for IPv4.</summary>
    public IpOffloadStatisticsSnapshot IpIpv4 { get; init; }

    /// <summary>IP_OFFLOAD_STATS for IPv6.</summary>
    public IpOffloadStatisticsSnapshot IpIpv6 { get; init; }

    /// <summary>Offloaded connections on the target, all of them (also those left out of <see cref="Connections"/>).</summary>
    public int ConnectionsTotal { get; init; }

    /// <summary>The offloaded connections listed (at most what was asked for).</summary>
    public IReadOnlyList<ConnectionStatus> Connections { get; init; } = [];

    /// <summary>The target's engine loops, each with its counters (index = loop = queue); empty for one loop, or from a
    /// server older than protocol version 3.</summary>
    public IReadOnlyList<LoopStatus> Loops { get; init; } = [];

    /// <summary>Link queues the daemon opened for the loops: as many as <see cref="Loops"/> on a multi-queue TAP or a
    /// fanout group, 1 when the loops share one device queue (docs/configuration.md, <c>Nic:Queues</c>); 0 when unknown.</summary>
    public int DeviceQueues { get; init; }

    /// <summary>The segmentation-offload mode and its super-frame counters; null from a server older than protocol
    /// version 4 (and for sessions of an older version).</summary>
    public SegmentationOffloadStatus? SegmentationOffload { get; init; }

    /// <summary>Connections not listed because of the cap.</summary>
    public int ConnectionsOmitted => Math.Max(0, ConnectionsTotal - Connections.Count);
}
