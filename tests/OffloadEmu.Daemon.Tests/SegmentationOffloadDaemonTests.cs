using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// <c>Link:SegmentationOffload=true</c> in the daemon (docs/target.md, "Segmentation offload"): offloademud on a real TAP
/// in segmentation-offload mode, <c>offloademu connect --daemon --echo-check</c> bound to it over the control socket, 32
/// MiB each way through the kernel's echo, byte-exact (pattern and SHA-256). The status (protocol version 4) says the
/// mode is on and counts super-frames both ways in the device and in the target, nothing dropped as a bad offload
/// header, no TCP errors on either side (the kernel's InCsumErrors included: our partial checksums were completed), and
/// the text status shows the counters. The kernel lives in our own namespace oe-dso&lt;tag&gt;&lt;pid&gt;
/// (198.18.236.1/24), addresses only from 198.18.0.0/15, no route out; the namespace, the TAP and every process (by PID)
/// are removed at the end. Also with <c>Nic:Queues=2</c> over a <c>multi_queue</c> TAP (each queue in the mode).
/// </summary>
[Trait("Category", "Privileged")]
public sealed class SegmentationOffloadDaemonTests : IDisposable
{
    private const long Bytes = 32L << 20;
    private readonly ITestOutputHelper _output;
    private readonly DaemonTapLab _lab = new("oe-dso", "oedso", 236);

    public SegmentationOffloadDaemonTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _lab.Dispose();

    /// <param name="queues">1: one TAP queue; 2: <c>Nic:Queues=2</c> on a <c>multi_queue</c> TAP, each queue's reader
    /// handing its frames, virtio-net header included, to the owner loop (<c>DeliverFrames(queue, …)</c>).</param>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Echo_of_32_MiB_each_way_through_the_daemon_as_super_frames_byte_exact_counted_in_the_status(int queues)
    {
        if (!Privileged.ShouldRun()) return;
        if (!Cmd.Exists("socat")) Assert.Fail("this test needs socat (scripts/test.sh installs it)");
        var clock = Stopwatch.StartNew();

        using var daemon = _lab.StartDaemon("02:00:00:18:ec:02",
            environment: new Dictionary<string, string> { ["OFFLOADEMU_Link__SegmentationOffload"] = "true", ["OFFLOADEMU_Nic__Queues"] = queues.ToString() },
            multiQueue: queues > 1);
        if (queues > 1)
            DaemonTapLab.WaitFor(() => daemon.Stdout.Contains("over 2 device queues", StringComparison.Ordinal), "the daemon's line on its two device queues");
        _lab.HandTapToKernelWithEcho();
        // The kernel sees a NIC with checksum and segmentation offload (TUNSETOFFLOAD from the daemon).
        string features = Cmd.Run("ip", "netns", "exec", _lab.Namespace, "ethtool", "-k", _lab.Tap);
        Assert.Contains("tcp-segmentation-offload: on", features);
        long csumErrorsBefore = KernelTcp("InCsumErrors");

        var transfer = Stopwatch.StartNew();
        var run = Cmd.TryRun(DaemonTapLab.Dotnet, _lab.ConnectArgs(2, Bytes.ToString(), "--timeout", "40"), environment: null, timeoutMilliseconds: 45_000);
        transfer.Stop();
        _output.WriteLine($"connect: {transfer.Elapsed.TotalSeconds:F1} s\n{run.Stdout}{run.Stderr}");
        Assert.True(run.Code == 0, $"offloademu connect exit {run.Code}: {run.Stderr}\n{run.Stdout}\ndaemon:\n{daemon.Stdout}");
        using (var doc = JsonDocument.Parse(run.Stdout.Trim()))
        {
            var j = doc.RootElement;
            Assert.Equal(Bytes, j.GetProperty("bytes_sent").GetInt64());
            Assert.Equal(Bytes, j.GetProperty("bytes_received").GetInt64());
            var check = j.GetProperty("echo_check");
            Assert.True(check.GetProperty("ok").GetBoolean(), run.Stdout);
            Assert.Equal(check.GetProperty("sha256_sent").GetString(), check.GetProperty("sha256_received").GetString());
            Assert.True(j.GetProperty("offloads").GetInt32() >= 1, run.Stdout);
            // Most of the transfer ran offloaded. Under CI load (one fresh-clone run of three, 2026-12-07) the
            // connection was once uploaded near the end and finished in host mode (offloads 1, uploads 1, hand-over
            // 0.32 s, byte-exact): why is not known yet, so the daemon's lines about it are printed for the next look.
            var lived = j.GetProperty("lived_seconds");
            double offloaded = lived.GetProperty("offloaded").GetDouble(), total = offloaded
                + lived.GetProperty("host").GetDouble() + lived.GetProperty("hand_over").GetDouble();
            if (j.GetProperty("final_location").GetString() != "offloaded")
                _output.WriteLine("finished in host mode; daemon lines on uploads:\n" + string.Join('\n',
                    daemon.Stdout.Split('\n').Where(l => l.Contains("pload", StringComparison.Ordinal))));
            Assert.True(offloaded >= 0.5 * total, $"offloaded only {offloaded:F2} s of {total:F2} s\n{run.Stdout}");
            Assert.Equal(JsonValueKind.Null, j.GetProperty("error").ValueKind);
        }

        // The daemon's status: the mode, super-frames both ways in the device and the target, no drops, no TCP errors.
        using (var doc = _lab.Status())
        {
            Assert.NotNull(doc);
            var link = doc.RootElement.GetProperty("link");
            var target = doc.RootElement.GetProperty("target");
            _output.WriteLine($"link: {link}\ntarget: {target}");
            Assert.True(link.GetProperty("segmentation_offload").GetBoolean());
            long linkIn = link.GetProperty("super_frames_in").GetInt64(), linkOut = link.GetProperty("super_frames_out").GetInt64();
            long targetIn = target.GetProperty("super_frames_in").GetInt64(), targetOut = target.GetProperty("super_frames_out").GetInt64();
            // 32 MiB is 512 super-segments of 64 KiB at the fewest: a few dozen each way means the mode carried the data.
            Assert.True(linkIn >= 32 && targetIn >= 32, $"super-frames in: device {linkIn}, target {targetIn}");
            Assert.True(linkOut >= 32 && targetOut >= 32, $"super-frames out: device {linkOut}, target {targetOut}");
            // The device counts every GSO frame it carried, the target only those of offloaded connections it made or took.
            Assert.True(linkIn >= targetIn, $"device {linkIn} < target {targetIn} super-frames in");
            Assert.True(linkOut >= targetOut, $"device {linkOut} < target {targetOut} super-frames out");
            // Fewer frames than the wire would have carried: at least 32 MiB in, at least 32 MiB out.
            Assert.True(link.GetProperty("bytes_in").GetInt64() >= Bytes && link.GetProperty("bytes_out").GetInt64() >= Bytes, link.ToString());
            Assert.True(link.GetProperty("frames_in").GetInt64() < Bytes / 1448, $"{link.GetProperty("frames_in")} frames in for {Bytes} bytes");
            foreach (var drop in link.GetProperty("drops").EnumerateObject())
                Assert.True(drop.Value.GetInt64() == 0, $"{drop.Name} drops: {drop.Value}");
            var ipv4 = doc.RootElement.GetProperty("statistics").GetProperty("ipv4");
            _output.WriteLine(ipv4.ToString());
            Assert.Equal(0, ipv4.GetProperty("tcp").GetProperty("in_errors").GetInt64());
            if (queues > 1) Assert.Equal(2, target.GetProperty("device_queues").GetInt32());
        }
        Assert.Equal(csumErrorsBefore, KernelTcp("InCsumErrors"));
        var text = Cmd.TryRun(DaemonTapLab.Dotnet, [DaemonTapLab.Cli, "status", "--daemon", _lab.Socket], environment: null, timeoutMilliseconds: 20_000);
        _output.WriteLine(text.Stdout);
        Assert.Matches(@"segmentation offload on: super-frames in [1-9]\d* \([1-9]\d* processed whole by the target\), out [1-9]\d* \([1-9]\d* super-segments", text.Stdout);
        var stats = Cmd.TryRun(DaemonTapLab.Dotnet, [DaemonTapLab.Cli, "stats", "--daemon", _lab.Socket, "--json"], environment: null, timeoutMilliseconds: 20_000);
        Assert.Contains("\"target.super_frames_out\":", stats.Stdout);
        Assert.Contains("\"link.super_frames_in\":", stats.Stdout);

        daemon.Terminate();
        Assert.Equal("STOPPING=1", _lab.Notify!.Receive());
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("", daemon.Stderr);
        _output.WriteLine($"{Bytes >> 20} MiB each way in {transfer.Elapsed.TotalSeconds:F1} s; test {clock.Elapsed.TotalSeconds:F1} s");
    }

    // A counter of the Tcp lines of the namespace kernel's /proc/net/snmp.
    private long KernelTcp(string name)
    {
        var lines = Cmd.Run("ip", "netns", "exec", _lab.Namespace, "cat", "/proc/net/snmp").Split('\n').Where(l => l.StartsWith("Tcp:", StringComparison.Ordinal)).ToArray();
        var names = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(values[Array.IndexOf(names, name)], System.Globalization.CultureInfo.InvariantCulture);
    }
}
