using System.Reflection;
using Microsoft.Extensions.Options;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Status;
using OffloadEmu.Daemon.Options;
using OffloadEmu.Link;
using OffloadEmu.Target;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// Answers the control protocol's QueryStatus for `offloademu status`/`stats` (docs/control.md): the daemon's version
/// and uptime, the link and its device counters, the parameters in force and the offloaded connections, whose state is
/// copied on the target's engine thread (<see cref="OffloadTarget.SnapshotConnectionsAsync"/>), never read from here.
/// </summary>
internal sealed class DaemonStatusSource
{
    private static readonly string s_version = typeof(DaemonStatusSource).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0]
        ?? typeof(DaemonStatusSource).Assembly.GetName().Version?.ToString() ?? "";

    private static readonly DropReason[] s_dropReasons = Enum.GetValues<DropReason>();

    private readonly LinkService _link;
    private readonly IFrameSink _sink;
    private readonly LinkOptions _linkOptions;
    private readonly TimeProvider _time;
    private readonly long _started;

    public DaemonStatusSource(LinkService link, IFrameSink sink, IOptions<LinkOptions> linkOptions, TimeProvider time)
    {
        _link = link;
        _sink = sink;
        _linkOptions = linkOptions.Value;
        _time = time;
        _started = time.GetTimestamp();
    }

    /// <summary>The snapshot, listing at most <paramref name="maxConnections"/> connections.</summary>
    public async Task<StatusSnapshot> SnapshotAsync(int maxConnections, CancellationToken cancellationToken)
    {
        var sink = _sink as TargetFrameSink;
        var target = sink?.Target;
        IReadOnlyList<OffloadedConnectionInfo> connections = [];
        int total = 0;
        if (target is not null) (connections, total) = await target.SnapshotConnectionsAsync(maxConnections, cancellationToken).ConfigureAwait(false);
        var list = new ConnectionStatus[connections.Count];
        for (int i = 0; i < list.Length; i++) list[i] = Convert(connections[i]);
        return new StatusSnapshot
        {
            Status = target is null ? NdisStatus.NotSupported : _link.IsLinkLost ? NdisStatus.MediaDisconnect : NdisStatus.Success,
            DaemonVersion = s_version,
            Uptime = _time.GetElapsedTime(_started),
            TakenAt = _time.GetUtcNow(),
            Link = LinkOf(target),
            Parameters = target?.CurrentParameters ?? OffloadParameters.Default,
            FramesUp = (ulong)(target?.FramesUp ?? 0),
            DroppedFrames = (ulong)(target?.DroppedFrames ?? 0),
            ConnectionsTotal = total,
            Connections = list,
            Loops = LoopsOf(target),
            DeviceQueues = sink?.DeviceQueues ?? 0,
            SegmentationOffload = SegmentationOffloadOf(target),
        };
    }

    /// <summary>Link:SegmentationOffload and the super-frames the device and the target counted (zeros when off).</summary>
    private SegmentationOffloadStatus SegmentationOffloadOf(OffloadTarget? target)
    {
        var (superIn, superOut) = _link.Stack?.SuperFrames() ?? (0, 0);
        bool enabled = target?.SegmentationOffload ?? _linkOptions.SegmentationOffload;
        return new SegmentationOffloadStatus(enabled, (ulong)superIn, (ulong)superOut,
            (ulong)(target?.SuperFramesIn ?? 0), (ulong)(target?.SuperFramesOut ?? 0));
    }

    /// <summary>Each engine loop's counters when there are several (Nic:Queues &gt; 1); none for one loop.</summary>
    internal static LoopStatus[] LoopsOf(OffloadTarget? target)
    {
        if (target is null || target.QueueCount == 1) return [];
        var counters = target.LoopCounters();
        var loops = new LoopStatus[counters.Length];
        for (int i = 0; i < loops.Length; i++)
        {
            var c = counters[i];
            loops[i] = new LoopStatus(c.Connections, (ulong)c.FramesIn, (ulong)c.FramesOut, (ulong)c.HandedOff, (ulong)c.HandOffDrops);
        }
        return loops;
    }

    private LinkStatus LinkOf(OffloadTarget? target)
    {
        var stack = _link.Stack;
        if (stack is null) return new LinkStatus { Kind = _linkOptions.Kind.ToString().ToLowerInvariant(), Interface = _linkOptions.Interface };
        var device = stack.Device;
        // Every queue's counters, summed (one queue: the device's own).
        var (framesIn, bytesIn, framesOut, bytesOut) = stack.Totals();
        var drops = new LinkDropCount[s_dropReasons.Length];
        for (int i = 0; i < drops.Length; i++) drops[i] = new LinkDropCount(s_dropReasons[i].ToString(), (ulong)stack.Drops(s_dropReasons[i]));
        return new LinkStatus
        {
            Kind = _linkOptions.Kind.ToString().ToLowerInvariant(), Interface = device.Name,
            MacAddress = target?.MacAddress ?? device.MacAddress, Mtu = device.Mtu,
            FramesIn = (ulong)framesIn, BytesIn = (ulong)bytesIn, FramesOut = (ulong)framesOut, BytesOut = (ulong)bytesOut,
            Drops = drops,
        };
    }

    private static ConnectionStatus Convert(OffloadedConnectionInfo c) => new()
    {
        Context = c.Context, Handle = c.Handle, LocalAddress = c.LocalAddress, LocalPort = c.LocalPort, RemoteAddress = c.RemoteAddress,
        RemotePort = c.RemotePort, State = c.State, SndUna = c.SndUna, SndNxt = c.SndNxt, SndMax = c.SndMax, RcvNxt = c.RcvNxt,
        SndWnd = c.SndWnd, RcvWnd = c.RcvWnd, CWnd = c.CWnd, SsThresh = c.SsThresh, SRtt = c.SRtt, RttVar = c.RttVar, Rto = c.Rto,
        Mss = c.Mss, RetransmittedSegments = c.RetransmittedSegments, RetransmitBackoff = c.RetransmitBackoff, InSegments = c.InSegments,
        OutSegments = c.OutSegments, SendQueued = c.SendQueued, SendBacklog = c.SendBacklog, ReceiveBuffered = c.ReceiveBuffered,
    };
}
