using System.Diagnostics;
using System.Globalization;
using OffloadEmu.Chimney;
using OffloadEmu.HostStack;
using OffloadEmu.Target;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using Xunit.Abstractions;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// Issue 8, scale: many offloaded idle connections to the Linux kernel plus a few active ones, through the host stack
/// and the real target on a TAP (<see cref="HostStackKernelLab"/>). The kernel side is one Python process in the lab
/// namespace that accepts and holds every connection on one port and discards what arrives on another.
/// <list type="bullet">
/// <item>Every idle connection is offloaded and stays so; the memory of the process grows by a bounded amount per
/// connection (reported; asserted against the buffers it owns plus a fixed overhead).</item>
/// <item>Keep-alive (chimney cached KaTimeout 3 s, KaInterval 1 s): every idle connection's first probe leaves between
/// KaTimeout and KaTimeout + a tolerance after its last segment, and the kernel answers it (the connection stays
/// offloaded, no probe limit reached).</item>
/// <item>A few active connections move data among them at a CPU cost per byte no more than a stated factor above what it
/// is alone (their throughput is printed too; on the shared machine it is too noisy to judge).</item>
/// </list>
/// Sizes: <c>OFFLOADEMU_SCALE_IDLE</c> (default 2,000 in CI; 10,000 is the issue's figure) and
/// <c>OFFLOADEMU_SCALE_ACTIVE</c> (default 8; the issue's 100 take minutes on two cores).
/// </summary>
[Trait("Category", "Privileged")]
[Collection(KernelBulkTransfers.Name)]
public sealed class ScaleKernelTests
{
    private const ushort HoldPort = 9000;
    private const ushort SinkPort = 9001;
    private const uint KaTimeoutTicks = 3000;   // ticks are milliseconds (1000 ticks/s)
    private const int Buffer = 16 * 1024;
    private const long ActiveBytes = 8L * 1024 * 1024;

    /// <summary>Active connections among the idle ones keep at least this share of their capacity alone (CPU seconds per
    /// GiB moved at most 1/this of the figure alone). Generous on purpose: the machine is shared; figures are printed.</summary>
    private const double ActiveShareBound = 0.5;

    /// <summary>A keep-alive probe may leave this much after its due time: the engine's timer heap is exact, but the
    /// machine is shared and a probe of 2,000 due in the same millisecond waits for the others.</summary>
    private const double ProbeLateBound = 0.75;

    /// <summary>A keep-alive probe may appear this much early against the capture's clock (see <see cref="CheckProbes"/>).</summary>
    private const double ProbeEarlyBound = 0.005;

    private static Ipv4Address KernelIp => HostStackKernelLab.KernelIp;
    private static Ipv4Address OurIp => HostStackKernelLab.OurIp;
    private readonly ITestOutputHelper _output;

    public ScaleKernelTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Thousands_of_idle_offloaded_connections_probe_on_time_and_active_ones_keep_their_throughput()
    {
        if (!Privileged.ShouldRun()) return;
        int idle = EnvInt("OFFLOADEMU_SCALE_IDLE", 2000);
        int active = EnvInt("OFFLOADEMU_SCALE_ACTIVE", 8);
        var tcp = TcpConfig.Default with
        {
            ReceiveBufferSize = Buffer, Sack = true, Msl = TimeSpan.FromSeconds(1),
            KeepAlive = true, KaTimeoutTicks = KaTimeoutTicks, KaIntervalTicks = 1000, KaProbeCount = 3,
        };
        var options = HostStackKernelLab.DefaultOptions() with { Tcp = tcp, ReceiveBufferSize = Buffer, SendBufferSize = Buffer };
        var targetOptions = new OffloadTargetOptions
        {
            Capabilities = new OffloadTargetOptions().Capabilities with { TcpConnectionOffloadCapacity = (uint)(idle + active + 16) },
        };
        using var lab = new HostStackKernelLab(_output, nameof(Thousands_of_idle_offloaded_connections_probe_on_time_and_active_ones_keep_their_throughput),
            snapLength: 96, options, targetOptions);
        bool passed = false;
        try
        {
            StartKernelSide(lab);
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(4));

            // 1. The active connections alone, after a warm-up run (JIT, ARP, the kernel's first accepts).
            await RunActive(lab, active, cts.Token, ActiveBytes / 8);
            var alone = await RunActive(lab, active, cts.Token, ActiveBytes);

            // 2. The idle connections, 64 handshakes in flight at a time.
            long managedBefore = ManagedBytes();
            long rssBefore = Rss();
            var sw = Stopwatch.StartNew();
            var sockets = new OffloadSocket[idle];
            using (var gate = new SemaphoreSlim(64))
            {
                var tasks = new Task[idle];
                for (int i = 0; i < idle; i++)
                {
                    int k = i;
                    await gate.WaitAsync(cts.Token);
                    tasks[k] = Task.Run(async () =>
                    {
                        try
                        {
                            sockets[k] = await lab.Stack!.ConnectAsync(KernelIp, HoldPort, cts.Token).WaitAsync(cts.Token);
                        }
                        finally
                        {
                            gate.Release();
                        }
                    }, cts.Token);
                }
                await Task.WhenAll(tasks);
            }
            var offloadDeadline = Stopwatch.StartNew();
            while (sockets.Count(s => s.Location == ConnectionLocation.Offloaded) < idle)
            {
                if (offloadDeadline.Elapsed > TimeSpan.FromSeconds(30))
                    Assert.Fail($"only {sockets.Count(s => s.Location == ConnectionLocation.Offloaded)} of {idle} connections offloaded after 30 s");
                await Task.Delay(50, cts.Token);
            }
            double setUp = sw.Elapsed.TotalSeconds;
            double established = LabClock();
            long managedPer = (ManagedBytes() - managedBefore) / idle;
            long rssPer = (Rss() - rssBefore) / idle;
            _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{idle} idle connections connected and offloaded in {setUp:F1} s ({idle / setUp:F0}/s); per connection: managed heap {managedPer} B, " +
                $"resident {rssPer} B (host send/receive buffers {Buffer}/{Buffer} B included; the target's receive storage is pooled and an idle connection holds none)"));
            // The buffers a connection owns (allocated up front or not) plus a fixed overhead for the host and target
            // objects: the 1,592 B machine (FootprintTests), the host's connection, socket and queues, the target's slot.
            Assert.True(managedPer <= 3 * Buffer + 16 * 1024, $"{managedPer} B of managed heap per idle connection");

            // 3. Keep-alive: wait until every connection had its first probe answered, then read the capture.
            await Task.Delay(TimeSpan.FromSeconds(KaTimeoutTicks / 1000.0 + 2.5), cts.Token);

            // 4. The active connections among the idle ones.
            var among = await RunActive(lab, active, cts.Token, ActiveBytes);
            _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{active} active connections alone: {alone.Mbps:F0} Mbit/s, {alone.CpuPerGiB:F1} CPU s/GiB; among {idle} idle ones: " +
                $"{among.Mbps:F0} Mbit/s ({among.Mbps / alone.Mbps:P0}), {among.CpuPerGiB:F1} CPU s/GiB ({among.CpuPerGiB / alone.CpuPerGiB:F2}×)"));

            Assert.Equal(idle, sockets.Count(s => s.Location == ConnectionLocation.Offloaded));
            // No idle connection came back (a keep-alive failure would retrieve it); the active ones' TIME-WAITs did.
            Assert.All(sockets, s => Assert.Equal((1, 0), s.OffloadCounts));
            string file = lab.StopCapture();
            CheckProbes(file, sockets, established);
            // Judged on CPU per byte, not on wall-clock throughput: on two shared cores at load 10–25 the throughput of the
            // same run moved between 20 % and 500 % of the first (seen here); the process's CPU time per GiB is what
            // idle connections could add to (per-round work over all connections, timers) and moves far less.
            Assert.True(among.CpuPerGiB <= alone.CpuPerGiB / ActiveShareBound,
                $"moving data among {idle} idle connections cost {among.CpuPerGiB:F1} CPU s/GiB, more than 1/{ActiveShareBound} × the {alone.CpuPerGiB:F1} alone");
            lab.WriteSummary();
            lab.AssertNoDrops();
            passed = true;
            foreach (var s in sockets) s.Abort();
        }
        finally
        {
            lab.KeepCaptureUnlessPassed(passed);
        }
    }

    /// <summary>Every idle connection's first keep-alive probe (zero or one byte at SND.UNA − 1, KaTimeout after the last
    /// segment received) leaves on time and the kernel answers it.</summary>
    private void CheckProbes(string file, OffloadSocket[] sockets, double established)
    {
        var ports = new HashSet<ushort>(sockets.Select(s => s.LocalPort));
        // Per frame of the hold port: time, our port, who sent it, payload length, relative seq, next seq.
        string rows = Cmd.Run("tshark", "-r", file, "-n", "-Y", $"tcp.port == {HoldPort}", "-T", "fields",
            "-e", "frame.time_epoch", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len", "-e", "tcp.flags.syn",
            "-e", "tcp.analysis.keep_alive", "-e", "tcp.analysis.keep_alive_ack");
        var last = new Dictionary<ushort, double>();
        var firstProbeDelay = new Dictionary<ushort, double>();
        var answered = new HashSet<ushort>();
        foreach (var line in rows.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('\t');
            double t = double.Parse(f[0], CultureInfo.InvariantCulture);
            bool fromUs = f[2] == HoldPort.ToString(CultureInfo.InvariantCulture);
            ushort port = ushort.Parse(fromUs ? f[1] : f[2], CultureInfo.InvariantCulture);
            if (!ports.Contains(port)) continue;
            bool probe = f.Length > 5 && f[5].Length > 0;
            bool probeAck = f.Length > 6 && f[6].Length > 0;
            if (fromUs && probe && !firstProbeDelay.ContainsKey(port))
                firstProbeDelay[port] = t - last.GetValueOrDefault(port, established);
            if (!fromUs && probeAck) answered.Add(port);
            // RFC 1122 §4.2.3.6: the idle time is measured from the last segment received (what Linux does too).
            if (!fromUs && !probeAck) last[port] = t;
        }
        var delays = firstProbeDelay.Values.Order().ToList();
        double ka = KaTimeoutTicks / 1000.0;
        string spread = delays.Count > 0
            ? string.Create(CultureInfo.InvariantCulture,
                $"min {delays[0]:F3} s, median {delays[delays.Count / 2]:F3} s, p99 {delays[(int)(delays.Count * 0.99)]:F3} s, max {delays[^1]:F3} s")
            : "none";
        _output.WriteLine($"keep-alive: {firstProbeDelay.Count} of {ports.Count} connections probed, {answered.Count} probes answered; " +
                          $"first probe after the last segment received: {spread}");
        var missing = ports.Where(p => !firstProbeDelay.ContainsKey(p)).Take(5).ToList();
        Assert.True(missing.Count == 0, $"no keep-alive probe from local ports {string.Join(", ", missing)} (and maybe more)");
        // Early by at most ProbeEarlyBound (the 1 ms tick rounding and the two clocks). Before the host loop stamped each
        // command with its own time, a segment that arrived during a long round was handled with the round's start time
        // and the keep-alive timer armed from it fired up to 23 ms early against the capture (seen at load 20).
        Assert.True(delays[0] >= ka - ProbeEarlyBound, $"a probe left {delays[0]:F3} s after the last segment, before KaTimeout {ka} s");
        Assert.True(delays[^1] <= ka + ProbeLateBound, $"a probe left {delays[^1]:F3} s after the last segment, more than {ProbeLateBound} s late");
        Assert.True(answered.Count >= ports.Count * 99 / 100, $"only {answered.Count} of {ports.Count} probes were answered by the kernel");
    }

    /// <summary>Connects <paramref name="count"/> connections to the kernel's discard port, sends
    /// <paramref name="bytes"/> on each at once, closes them, and returns the aggregate Mbit/s.</summary>
    private static async Task<(double Mbps, double CpuPerGiB)> RunActive(HostStackKernelLab lab, int count, CancellationToken token, long bytes)
    {
        var sockets = new OffloadSocket[count];
        for (int i = 0; i < count; i++) sockets[i] = await lab.Stack!.ConnectAsync(KernelIp, SinkPort, token).WaitAsync(token);
        var data = new byte[64 * 1024];
        new Random(7).NextBytes(data);
        using var self = Process.GetCurrentProcess();
        var cpu = self.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(sockets.Select(s => Task.Run(async () =>
        {
            for (long sent = 0; sent < bytes; sent += data.Length) await s.WriteAsync(data, token);
            await s.ShutdownAsync().WaitAsync(token);
        }, token)));
        double seconds = sw.Elapsed.TotalSeconds;
        self.Refresh();
        double cpuSeconds = (self.TotalProcessorTime - cpu).TotalSeconds;
        foreach (var s in sockets) await s.CloseAsync().WaitAsync(token);
        double gib = count * bytes / (double)(1L << 30);
        return (count * bytes * 8 / seconds / 1e6, cpuSeconds / gib);
    }

    private static void StartKernelSide(HostStackKernelLab lab)
    {
        string script = lab.TempFile("scale-kernel.py");
        File.WriteAllText(script, KernelScript);
        var p = lab.StartInNamespace("/usr/bin/python3", script, KernelIp.ToString(), HoldPort.ToString(CultureInfo.InvariantCulture),
            SinkPort.ToString(CultureInfo.InvariantCulture));
        var sw = Stopwatch.StartNew();
        while (!lab.Namespace.Exec("ss", "-Hltn").Contains($"{KernelIp}:{SinkPort}", StringComparison.Ordinal))
        {
            if (p.HasExited) Assert.Fail($"the kernel-side script exited with {p.ExitCode}");
            if (sw.Elapsed > TimeSpan.FromSeconds(10)) Assert.Fail("the kernel-side script is not listening after 10 s");
            Thread.Sleep(50);
        }
    }

    /// <summary>Accepts and holds every connection on the hold port (no keep-alive of its own, never reads), and
    /// discards what arrives on the sink port.</summary>
    private const string KernelScript = """
        import resource, selectors, socket, sys
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        ip, hold_port, sink_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        sel = selectors.DefaultSelector()
        def listen(port):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
            s.listen(4096)
            s.setblocking(False)
            return s
        hold, sink = listen(hold_port), listen(sink_port)
        sel.register(hold, selectors.EVENT_READ, "hold")
        sel.register(sink, selectors.EVENT_READ, "sink")
        held = []
        while True:
            for key, _ in sel.select():
                if key.data in ("hold", "sink"):
                    try:
                        c, _ = key.fileobj.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    c.setblocking(False)
                    if key.data == "hold":
                        held.append(c)
                    else:
                        sel.register(c, selectors.EVENT_READ, "data")
                else:
                    try:
                        d = key.fileobj.recv(1 << 20)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        d = b""
                    if not d:
                        sel.unregister(key.fileobj)
                        key.fileobj.close()
        """;

    private static double LabClock() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    private static long ManagedBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(true);
    }

    private static long Rss()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    private static int EnvInt(string name, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;
}
