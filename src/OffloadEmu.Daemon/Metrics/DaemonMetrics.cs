using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using OffloadEmu.Daemon.Options;
using OffloadEmu.Link;
using OffloadEmu.Link.Capture;

namespace OffloadEmu.Daemon.Metrics;

/// <summary>
/// The daemon's instruments on Meter "OffloadEmu" (architecture §7), observable so the hot path only
/// bumps the counters it already keeps: <c>dotnet-counters monitor -n offloademud --counters OffloadEmu</c>.
/// </summary>
/// <remarks>
/// The meter comes from the host's <see cref="IMeterFactory"/>: same name for every listener, one
/// meter per host so hosts started by tests in one process never see each other's links.
/// </remarks>
internal sealed class DaemonMetrics
{
    /// <summary>The meter name.</summary>
    internal const string MeterName = "OffloadEmu";

    private static readonly DropReason[] Reasons = Enum.GetValues<DropReason>();
    private static readonly string[] ReasonTags = Reasons.Select(r => ToSnakeCase(r.ToString())).ToArray();

    private volatile LinkStatistics[]? _statistics;
    private volatile string _link = "";
    private Func<long>? _delivered;
    private volatile CaptureRecordQueue? _controlCapture;

    public DaemonMetrics(IMeterFactory meters, IOptions<MetricsOptions> options)
    {
        if (!options.Value.Enabled) return;
        var meter = meters.Create(MeterName);
        meter.CreateObservableCounter("offloademu.link.frames", ObserveFrames, "{frame}", "Frames received (direction=in) and sent (direction=out) by the link device");
        meter.CreateObservableCounter("offloademu.link.bytes", ObserveBytes, "By", "Bytes of whole frames received and sent by the link device");
        meter.CreateObservableCounter("offloademu.link.drops", ObserveDrops, "{frame}", "Frames dropped by the link device or its decorators, by reason");
        meter.CreateObservableCounter("offloademu.daemon.sink.frames", ObserveDelivered, "{frame}", "Frames the receive loop handed to the frame sink (the offload target)");
        meter.CreateObservableCounter("offloademu.capture.control_messages", ObserveControlCapture, "{message}", "Control messages mirrored into the capture (state=written) or dropped because its queue was full (state=dropped)");
    }

    /// <summary>Starts reporting the control capture's counters.</summary>
    internal void AttachControlCapture(CaptureRecordQueue queue) => _controlCapture = queue;

    private IEnumerable<Measurement<long>> ObserveControlCapture()
    {
        if (_controlCapture is not { } q) yield break;
        yield return new(q.Written, new KeyValuePair<string, object?>("state", "written"));
        yield return new(q.Dropped, new KeyValuePair<string, object?>("state", "dropped"));
    }

    /// <summary>Starts reporting <paramref name="statistics"/> of link <paramref name="link"/>.</summary>
    internal void AttachLink(string link, LinkStatistics statistics, Func<long> delivered) => AttachLink(link, [statistics], delivered);

    /// <summary>Starts reporting the counters of link <paramref name="link"/>'s queues, summed.</summary>
    internal void AttachLink(string link, LinkStatistics[] statistics, Func<long> delivered)
    {
        _link = link;
        _delivered = delivered;
        _statistics = statistics;
    }

    /// <summary>Stops reporting the link (its counters stay readable until then).</summary>
    internal void DetachLink() => _statistics = null;

    private IEnumerable<Measurement<long>> ObserveFrames()
    {
        if (_statistics is not { } s) yield break;
        yield return new(Sum(s, static x => x.FramesIn), new("direction", "in"), new("link", _link));
        yield return new(Sum(s, static x => x.FramesOut), new("direction", "out"), new("link", _link));
    }

    private IEnumerable<Measurement<long>> ObserveBytes()
    {
        if (_statistics is not { } s) yield break;
        yield return new(Sum(s, static x => x.BytesIn), new("direction", "in"), new("link", _link));
        yield return new(Sum(s, static x => x.BytesOut), new("direction", "out"), new("link", _link));
    }

    private IEnumerable<Measurement<long>> ObserveDrops()
    {
        if (_statistics is not { } s) yield break;
        for (int i = 0; i < Reasons.Length; i++)
        {
            var reason = Reasons[i];
            long n = 0;
            foreach (var q in s) n += q.Drops(reason);
            yield return new(n, new("reason", ReasonTags[i]), new("link", _link));
        }
    }

    private static long Sum(LinkStatistics[] queues, Func<LinkStatistics, long> counter)
    {
        long n = 0;
        foreach (var q in queues) n += counter(q);
        return n;
    }

    private IEnumerable<Measurement<long>> ObserveDelivered()
    {
        if (_statistics is null || _delivered is not { } d) yield break;
        yield return new(d(), new KeyValuePair<string, object?>("link", _link));
    }

    private static string ToSnakeCase(string name)
    {
        var sb = new System.Text.StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }
}
