using System.Diagnostics;
using System.Globalization;
using OffloadEmu.Chimney;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using Xunit.Abstractions;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// Spec §10 rows that need an impaired path or a capture, against the Linux kernel: the offload target (threaded) on a
/// TAP in namespace oe-t-ti&lt;random&gt;&lt;pid&gt; behind our <see cref="ImpairmentDevice"/>, driven by
/// <see cref="TargetKernelHarness"/> (ARP and handshake on the host path, offload mid-transfer, 8 MiB each way through
/// the target (4 MiB with loss) with its state queried every few milliseconds, terminate, 1 MiB more in host mode, close; byte-exact
/// against socat's echo).
/// <list type="bullet">
/// <item>Row 19 (RTT export): with 100 ms added on egress, the queried SRtt/8 is within 20 % of 100 ms.</item>
/// <item>Row 21 (congestion): with loss on egress, SsThresh falls to about half the flight (NewReno: max(flight/2,
/// 2·MSS)) and CWnd grows again afterwards.</item>
/// <item>Row 26 (reordering): 25 % of the kernel's segments overtake others on ingress; the stream is intact (the harness
/// compares every byte with the generated stream, so a duplicate or a gap fails it).</item>
/// <item>Row 58 (statistics): the target's IPv4 counters equal what tcpdump saw: every frame of the offloaded connection
/// carries an IP ID of the target's half (0x8000–0xFFFF; spec §5), and their count and octets are OutRequests /
/// OutOctets, OutSegments + RetransmittedSegments; the kernel's segments during the offload are InSegments.</item>
/// </list>
/// </summary>
[Trait("Category", "Privileged")]
[Collection(KernelBulkTransfers.Name)]
public sealed class TargetKernelImpairmentTests : IDisposable
{
    private const long BeforeOffload = 1L * 1024 * 1024;
    private const long ViaTarget = 8L * 1024 * 1024;
    private const long AfterUpload = 1L * 1024 * 1024;
    private const int Mss = 1448; // 1500 − 20 − 20 − 12 (timestamps)
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(40);
    private static readonly Ipv4Address KernelIp = new(198, 18, 246, 1);
    private static readonly Ipv4Address OurIp = new(198, 18, 246, 2);

    private readonly ITestOutputHelper _output;
    private readonly List<IDisposable> _cleanup = [];

    public TargetKernelImpairmentTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Row19_the_exported_srtt_follows_a_100_ms_delay()
    {
        // 100 ms, not less: the measured RTT also holds the kernel's ACK delay, socat's echo and our own processing,
        // 2–4 ms here when quiet and 4–11 ms at load 10–15 (20 ms read 24–28 ms then and 50 ms read 60.6, outside 20 %).
        const double delayMs = 100;
        var run = Run("", "delay 100ms", queryInterval: TimeSpan.FromMilliseconds(10), capture: false);
        if (run is null) return;
        // Ticks are milliseconds (TicksPerSecond 1000); SRtt is ×8, RttVar ×4. The estimator needs a few RTTs to forget
        // the sub-millisecond RTT imported from the host phase: judge the second half of the offload.
        var late = run.Harness.Queries.Skip(run.Harness.Queries.Count / 2).ToList();
        Assert.True(late.Count >= 5, $"only {run.Harness.Queries.Count} queries completed");
        var srtt = late.Select(q => q.SRtt / 8.0).Order().ToList();
        double median = srtt[srtt.Count / 2];
        double rttVar = late.Select(q => q.RttVar / 4.0).Order().ElementAt(late.Count / 2);
        _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"SRtt/8 over the last {late.Count} queries: min {srtt[0]} median {median} max {srtt[^1]} ms; RttVar/4 median {rttVar} ms"));
        Assert.InRange(median, delayMs * 0.8, delayMs * 1.2);
        Assert.True(rttVar < delayMs / 2, $"RttVar/4 {rttVar} ms: the estimator did not settle on a constant {delayMs} ms path");
    }

    [Fact]
    public void Row21_after_a_loss_ssthresh_is_about_half_the_flight_and_cwnd_grows_again()
    {
        // 4 MiB: at a 10 ms RTT with 1 % loss the window stays small, and 8 MiB took 7 s here.
        var run = Run("", "delay 10ms loss 1%", queryInterval: TimeSpan.FromMilliseconds(2), capture: false, viaTarget: 4L << 20);
        if (run is null) return;
        var q = run.Harness.Queries;
        Assert.True(run.TcpStats.RetransmittedSegments > 0, "no loss was repaired: the impairment did not bite");
        // A reduction: SsThresh fell between two readings. NewReno sets it to max(FlightSize/2, 2·MSS) where FlightSize is
        // what was outstanding when the loss was detected, at most the CWnd (and the flight) read just before.
        var ratios = new List<double>();
        int regrown = 0;
        for (int i = 1; i < q.Count; i++)
        {
            if (q[i].SsThresh >= q[i - 1].SsThresh) continue;
            uint before = Math.Max(q[i - 1].Flight, Math.Min(q[i - 1].CWnd, q[i - 1].SndWnd));
            Assert.True(q[i].SsThresh >= 2 * Mss, $"SsThresh {q[i].SsThresh} below 2·MSS");
            if (before >= 8 * Mss) ratios.Add(q[i].SsThresh / (double)before);
            // CWnd regrows: a later reading (before the next reduction) above the new SsThresh.
            for (int j = i + 1; j < q.Count && q[j].SsThresh == q[i].SsThresh; j++)
            {
                if (q[j].CWnd > q[i].SsThresh) { regrown++; break; }
            }
        }
        ratios.Sort();
        string listed = string.Join(' ', ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture)));
        _output.WriteLine($"{q.Count} queries, {ratios.Count} reductions from a flight of at least 8 MSS; SsThresh/flight before: {listed}; " +
                          $"CWnd above the new SsThresh later: {regrown}");
        Assert.True(ratios.Count >= 2, $"only {ratios.Count} reductions were seen between readings");
        // Half the flight, give or take what the flight did between the reading and the loss (2 ms apart, RTT 10 ms). Not
        // the median: a second reduction within one recovery (a retransmission lost again, then the RTO) is measured
        // against a reading from before the first and reads 0.1-0.3; in four CI runs on 2026-12-07 those were 3 to 8 of
        // 11-14 reductions (once the median fell to 0.25) while the clean ones read 0.42-0.58. The upper quartile is a
        // clean reduction whenever most are.
        double upperQuartile = ratios[3 * ratios.Count / 4];
        Assert.InRange(upperQuartile, 0.35, 0.65);
        Assert.True(regrown >= 1, "CWnd never grew above the SsThresh a loss set");
    }

    [Fact]
    public void Row26_a_quarter_of_the_kernels_segments_reordered_arrive_intact()
    {
        var run = Run("delay 1ms reorder 25%", "", queryInterval: TimeSpan.Zero, capture: false);
        if (run is null) return;
        // The harness compared every delivered byte with the generated stream (a duplicate, a gap or a swap fails it)
        // and the SHA-256 of the whole echo with what was sent.
        Assert.True(run.Device.Statistics.TotalDrops == 0, $"the device dropped frames: {run.Device.Statistics}");
        _output.WriteLine($"target: in {run.TcpStats.InSegments}, retransmitted {run.TcpStats.RetransmittedSegments}");
    }

    [Fact]
    public void Row58_the_targets_ipv4_counters_equal_what_the_capture_shows()
    {
        var run = Run("", "", queryInterval: TimeSpan.Zero, capture: true);
        if (run is null) return;
        var tcp = run.TcpStats;
        var ip = run.IpStats;
        var v6 = run.Target6Tcp;
        Assert.Equal(default, v6);   // nothing IPv6 happened: the per-family counters stayed apart

        // Our frames with the target's IP IDs (0x8000-0xFFFF): exactly what the offloaded connection sent.
        string rows = Cmd.Run("tshark", "-r", run.CaptureFile!, "-n", "-Y", $"tcp.port == 7 && ip.src == {OurIp} && ip.id >= 0x8000",
            "-T", "fields", "-e", "ip.len");
        var lengths = rows.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => long.Parse(l, CultureInfo.InvariantCulture)).ToList();
        // Every segment of the kernel's went either to the offloaded connection (IP InReceives) or up the non-offload path
        // to the harness (host phases, and what arrived during the two hand-overs).
        string kernelRows = Cmd.Run("tshark", "-r", run.CaptureFile!, "-n", "-Y", $"tcp.port == 7 && ip.src == {KernelIp}", "-T", "fields", "-e", "frame.number");
        int kernelFrames = kernelRows.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        _output.WriteLine($"capture: {lengths.Count} frames from the target ({lengths.Sum()} IP octets), {kernelFrames} from the kernel; the harness " +
                          $"got {run.Harness.ConnectionSegmentsUp} up the non-offload path and forwarded {run.Harness.SegmentsForwarded}");
        _output.WriteLine($"target TCP: {tcp}");
        _output.WriteLine($"target IP:  {ip}");

        Assert.True(lengths.Count > 1000, $"only {lengths.Count} frames of the target were captured");
        Assert.Equal((ulong)lengths.Count, tcp.OutSegments + tcp.RetransmittedSegments);
        Assert.Equal((ulong)lengths.Count, ip.OutRequests);
        Assert.Equal((ulong)lengths.Sum(), ip.OutOctets);
        Assert.Equal(ip.InReceives, ip.InDelivers + ip.InHeaderErrors + ip.InTruncatedPackets + ip.InDiscards);
        Assert.Equal((ulong)kernelFrames, ip.InReceives + (ulong)run.Harness.ConnectionSegmentsUp);
        // Forwarded segments (held during the initiate) reach the offloaded TCP without its IP layer.
        Assert.Equal(tcp.InSegments, ip.InDelivers + (ulong)run.Harness.SegmentsForwarded);
        Assert.Equal(0UL, tcp.InErrors);
        Assert.Equal(0UL, tcp.OutResets);
    }

    private sealed record RunResult(TargetKernelHarness Harness, ImpairmentDevice Device, TcpOffloadStatisticsSnapshot TcpStats,
        IpOffloadStatisticsSnapshot IpStats, TcpOffloadStatisticsSnapshot Target6Tcp, string? CaptureFile);

    /// <summary>The whole scenario with the given impairments; null when privileged tests are skipped.</summary>
    private RunResult? Run(string ingress, string egress, TimeSpan queryInterval, bool capture, long viaTarget = ViaTarget)
    {
        if (!Privileged.ShouldRun()) return null;
        if (Cmd.Which("socat") is null) Assert.Fail("this test needs 'socat' on PATH (the kernel-side echo server)");

        string tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
        var ns = Own(new TestNamespace(tag, prefix: "oe-t-ti"));
        string tapName = $"oeti{Environment.ProcessId}";
        var tap = Own(new TapDevice(new TapDeviceOptions { Name = tapName }));
        Cmd.Run("ip", "link", "set", tapName, "netns", ns.Name);
        ns.ConfigureInside(tapName, $"{KernelIp}/24");
        Own(new KernelEchoServer(ns.Name, KernelIp, 7));
        var tcpdump = capture ? Own(new TcpdumpCapture(ns.Name, tapName, snapLength: 96)) : null;

        var config = (TcpConfig.Default with { ReceiveBufferSize = 1 << 20, Sack = true, Msl = TimeSpan.FromSeconds(1) })
            .WithOffloadParameters(OffloadEmu.Chimney.State.OffloadParameters.Default);
        ushort localPort = (ushort)(40000 + (Environment.ProcessId + Random.Shared.Next(1000)) % 20000);
        var device = new ImpairmentDevice(tap, ingress, egress, seed: 0x0E0E_2026UL);
        var target = new OffloadTarget(device);
        bool passed = false;
        try
        {
            var harness = new TargetKernelHarness(target, OurIp, KernelIp, localPort, 7, config) { QueryInterval = queryInterval };
            target.Bind(harness);
            target.Start();
            var sw = Stopwatch.StartNew();
            bool ok = harness.Run(BeforeOffload, viaTarget, AfterUpload, Timeout, out string failure);
            sw.Stop();
            var tcpStats = target.QueryTcpStatistics(false);
            var ipStats = target.QueryIpStatistics(false);
            var tcp6 = target.QueryTcpStatistics(true);
            target.Dispose();
            _output.WriteLine($"impairment: ingress '{ingress}', egress '{egress}'");
            _output.WriteLine(harness.Log);
            _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{harness.BytesReceived / 1048576.0:F1} MiB each way in {sw.Elapsed.TotalSeconds:F2} s; via target {harness.ReceivedViaTarget / 1048576.0:F1} MiB in, " +
                $"{harness.AcknowledgedViaTarget / 1048576.0:F1} MiB acked out; {harness.Queries.Count} queries; device {device.Statistics}"));
            _output.WriteLine($"target: {tcpStats}; dropped frames {target.DroppedFrames}, suppressed RSTs {target.SuppressedResets}");
            if (harness.Machine is { } m)
                _output.WriteLine($"host machine after upload: {m.State}, in {m.Statistics.InSegments} out {m.Statistics.OutSegments} " +
                                  $"retransmitted {m.Statistics.RetransmittedSegments} (RTO {m.Statistics.RetransmitTimeouts}, fast {m.Statistics.FastRetransmits}), " +
                                  $"duplicate bytes {m.Statistics.DuplicateBytes}, out of window {m.Statistics.OutOfWindowSegments}");
            Assert.True(ok, failure);
            Assert.Null(harness.FirstMismatch);
            Assert.Equal(Convert.ToHexString(harness.SentHash()), Convert.ToHexString(harness.ReceivedHash()));
            Assert.True(harness.ReceivedViaTarget >= viaTarget && harness.AcknowledgedViaTarget >= viaTarget, "the target did not carry the transfer");
            Assert.Equal(0L, target.DroppedFrames);
            Assert.Equal(0L, target.SuppressedResets);
            if (tcpdump is not null)
            {
                Thread.Sleep(300);   // tcpdump lags the wire on a loaded machine
                tcpdump.Stop();
            }
            passed = true;
            return new RunResult(harness, device, tcpStats, ipStats, tcp6, tcpdump?.FilePath);
        }
        finally
        {
            target.Dispose();
            if (!passed && tcpdump is not null) _output.WriteLine($"capture: {tcpdump.FilePath}");
        }
    }

    private T Own<T>(T resource) where T : IDisposable
    {
        _cleanup.Add(resource);
        return resource;
    }

    public void Dispose()
    {
        for (int i = _cleanup.Count - 1; i >= 0; i--) _cleanup[i].Dispose();
    }
}
