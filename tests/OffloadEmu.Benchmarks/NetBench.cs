using System.Diagnostics;
using System.Globalization;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Client;
using OffloadEmu.HostStack;
using OffloadEmu.Wire;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// The emulator side of the churn and scale rows of scripts/bench.sh. Each mode prints one line of key=value pairs.
/// <code>
///   OffloadEmu.Benchmarks churn-local SECONDS
///       OffloadTargetBenchmarks.InitiateTerminate in a plain loop (in-process target on a MemoryLink, one thread):
///       ops= seconds= ops_per_s=
///   OffloadEmu.Benchmarks churn-daemon SOCKET LOCAL/PREFIX SECONDS [INFLIGHT]
///       a HostStack on the daemon's target (RemoteOffloadTarget); synthetic connections to an address nobody answers
///       on, each uploaded (terminate) and offloaded again (initiate) back to back. First one connection alone for
///       SECONDS (the latency of one terminate+initiate pair: serial_ops_per_s= serial_p50_us= serial_p99_us=), then
///       INFLIGHT connections (default 32) cycling at once, the stack allowing as many initiates in flight, for SECONDS:
///       inflight= ops= seconds= ops_per_s= alloc_bytes_per_op= (managed bytes this process allocated per pair).
///   OffloadEmu.Benchmarks churn-server SECONDS [INFLIGHT]
///       the same against a ControlServer and OffloadTarget (on a MemoryLink) in this process: the same figures, the
///       allocations now those of client, server and target together (less the client's from churn-daemon = the
///       server's and the target's).
///   OffloadEmu.Benchmarks scale SOCKET DAEMON_PID LOCAL/PREFIX REMOTE PORT NPORTS IDLE ACTIVE SECONDS IDLE_SECONDS
///       ACTIVE connections to REMOTE:PORT.. (a kernel listener that keeps them, `tcpbench hold`), offloaded; their
///       write throughput alone (bytes written between 1 s and 1+SECONDS s of writing); then IDLE more (listener port
///       PORT + k / 15,000 for the k-th), offloaded, the daemon's resident memory per idle connection (VmRSS delta /
///       IDLE: everything), its live managed bytes per idle connection after a full GC less the receive buffers held
///       (heap_bytes_per_conn, read through the daemon's diagnostics port, DaemonMemory) and the receive buffers held
///       (rcvbuf_bytes_per_conn), and its CPU while idle (utime+stime over IDLE_SECONDS); then the ACTIVE ones'
///       throughput again among the idle ones.
/// </code>
/// </summary>
internal static class NetBench
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    internal static int Run(string[] args)
    {
        try
        {
            switch (args[0])
            {
                case "churn-local" when args.Length == 2:
                    return ChurnLocal(D(args[1]));
                case "churn-daemon" when args.Length is 4 or 5:
                    return ChurnDaemon(args[1], args[2], D(args[3]), args.Length == 5 ? int.Parse(args[4], Inv) : 32).GetAwaiter().GetResult();
                case "churn-server" when args.Length is 2 or 3:
                    return ChurnServer(D(args[1]), args.Length == 3 ? int.Parse(args[2], Inv) : 32).GetAwaiter().GetResult();
                case "scale" when args.Length == 11:
                    return Scale(args[1], int.Parse(args[2], Inv), args[3], Ipv4Address.Parse(args[4]), ushort.Parse(args[5], Inv),
                        int.Parse(args[6], Inv), int.Parse(args[7], Inv), int.Parse(args[8], Inv), D(args[9]), D(args[10])).GetAwaiter().GetResult();
            }
        }
        catch (Exception ex) when (ex is FormatException or OverflowException)
        {
            Console.Error.WriteLine($"{args[0]}: {ex.Message}");
            return 2;
        }
        Console.Error.WriteLine("usage: churn-local SECONDS | churn-daemon SOCKET LOCAL/PREFIX SECONDS [INFLIGHT] | churn-server SECONDS [INFLIGHT] | "
            + "scale SOCKET DAEMON_PID LOCAL/PREFIX REMOTE PORT NPORTS IDLE ACTIVE SECONDS IDLE_SECONDS");
        return 2;
    }

    private static double D(string s) => double.Parse(s, Inv);

    private static int ChurnLocal(double seconds)
    {
        var bench = new OffloadTargetBenchmarks();
        bench.SetupInitiateTerminate();
        try
        {
            var warm = Stopwatch.StartNew();
            while (warm.Elapsed.TotalSeconds < 0.5) bench.InitiateTerminate();
            long ops = 0;
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed.TotalSeconds < seconds)
            {
                for (int i = 0; i < 64; i++) bench.InitiateTerminate();
                ops += 64;
            }
            double s = sw.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(Inv, $"ops={ops} seconds={s:F6} ops_per_s={ops / s:F1}"));
            return 0;
        }
        finally
        {
            bench.Cleanup();
        }
    }

    private static HostStack.HostStack OpenStack(RemoteOffloadTarget remote, string local, ushort ephemeralStart = 49152, int initiatesInFlight = 1)
    {
        int slash = local.IndexOf('/', StringComparison.Ordinal);
        var stack = new HostStack.HostStack(remote, new HostStackOptions
        {
            Address = Ipv4Address.Parse(local[..slash]),
            PrefixLength = int.Parse(local[(slash + 1)..], Inv),
            EphemeralPortStart = ephemeralStart,
            EphemeralPortOffset = 0,
            MaxInitiatesInFlight = initiatesInFlight,
        });
        stack.Start();
        return stack;
    }

    private static async Task<int> ChurnServer(double seconds, int inflight)
    {
        var dir = Directory.CreateTempSubdirectory("oe-churn-");
        try
        {
            Link.Devices.MemoryLink.CreatePair(out var nic, out var peer);
            using var _n = nic;
            using var _p = peer;
            using var target = new Target.OffloadTarget(nic);
            string path = Path.Combine(dir.FullName, "control.sock");
            await using var server = new Control.Server.ControlServer(target, new Control.Server.ControlServerOptions { Path = path });
            server.Start();
            target.Start();
            return await ChurnDaemon(path, "198.18.0.2/24", seconds, inflight).ConfigureAwait(false);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task<int> ChurnDaemon(string socket, string local, double seconds, int inflight)
    {
        if (inflight is < 1 or > 4096) throw new FormatException("INFLIGHT must be 1..4096");
        using var remote = RemoteOffloadTarget.Connect(socket, new RemoteOffloadTargetOptions { ClientName = $"bench churn pid {Environment.ProcessId}" });
        using var stack = OpenStack(remote, local, initiatesInFlight: inflight);
        // An on-link address with a made-up MAC: the target's segments (if any) go to a MAC the kernel side ignores.
        var peer = Ipv4Address.Parse(local[..local.IndexOf('/', StringComparison.Ordinal)]);
        var peerBytes = new byte[4];
        peer.Write(peerBytes);
        peerBytes[3] = (byte)(peerBytes[3] == 200 ? 201 : 200);
        var remoteAddress = Ipv4Address.Read(peerBytes);
        var sockets = new OffloadSocket[inflight];
        for (int i = 0; i < inflight; i++)
            sockets[i] = (await stack.OffloadSyntheticAsync(Synthetic(remoteAddress, (ushort)(40000 + i))).ConfigureAwait(false)).Socket;

        // One at a time: the latency of a terminate+initiate pair through the daemon.
        var one = sockets[0];
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 0.5) await Cycle(one).ConfigureAwait(false);
        var latencies = new List<long>(1 << 16);
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            long t0 = Stopwatch.GetTimestamp();
            await Cycle(one).ConfigureAwait(false);
            latencies.Add(Stopwatch.GetTimestamp() - t0);
        }
        double serialSeconds = sw.Elapsed.TotalSeconds;
        latencies.Sort();
        double Us(double q) => latencies[(int)Math.Min(latencies.Count - 1, q * latencies.Count)] * 1e6 / Stopwatch.Frequency;
        Progress(string.Create(Inv, $"churn-daemon: one at a time {latencies.Count / serialSeconds:F0}/s, p50 {Us(0.5):F0} us; now {inflight} in flight"));

        // INFLIGHT connections cycling at once.
        long ops = 0;
        using var stop = new CancellationTokenSource();
        async Task Loop(OffloadSocket s)
        {
            while (!stop.IsCancellationRequested)
            {
                await Cycle(s).ConfigureAwait(false);
                Interlocked.Increment(ref ops);
            }
        }
        var warmStop = Task.Delay(500);
        var loops = new Task[inflight];
        for (int i = 0; i < inflight; i++)
        {
            var mine = sockets[i];
            loops[i] = Task.Run(() => Loop(mine));
        }
        await warmStop.ConfigureAwait(false);
        long ops0 = Interlocked.Read(ref ops);
        long alloc0 = GC.GetTotalAllocatedBytes(precise: false);
        sw.Restart();
        await Task.Delay(TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
        long done = Interlocked.Read(ref ops) - ops0;
        double s = sw.Elapsed.TotalSeconds;
        long allocated = GC.GetTotalAllocatedBytes(precise: false) - alloc0;
        stop.Cancel();
        await Task.WhenAll(loops).ConfigureAwait(false);
        Console.WriteLine(string.Create(Inv,
            $"serial_ops={latencies.Count} serial_ops_per_s={latencies.Count / serialSeconds:F1} serial_p50_us={Us(0.5):F1} serial_p99_us={Us(0.99):F1} inflight={inflight} ops={done} seconds={s:F6} ops_per_s={done / s:F1} alloc_bytes_per_op={allocated / (double)Math.Max(1, done):F0}"));
        foreach (var c in sockets) c.Abort();
        return 0;
    }

    private static SyntheticConnection Synthetic(Ipv4Address remoteAddress, ushort localPort) => new()
    {
        RemoteAddress = remoteAddress,
        RemoteMac = MacAddress.Parse("02:00:00:be:4c:01"),
        Const = new TcpConstState { Flags = TcpConstFlags.WindowScaling, LocalPort = localPort, RemotePort = 40001, SndWindScale = 7, RcvWindScale = 7, RemoteMss = 1460 },
        Cached = new TcpCachedState { InitialRcvWnd = 65535, TtlOrHopLimit = 64, MaxRT = 0 },
        Delegated = new TcpDelegatedState
        {
            State = TcpState.Established,
            RcvNxt = new SeqNumber(1000),
            RcvWnd = 65535,
            SndUna = new SeqNumber(5000),
            SndNxt = new SeqNumber(5000),
            SndMax = new SeqNumber(5000),
            SndWnd = 65535,
            MaxSndWnd = 65535,
            SendWL1 = new SeqNumber(1000),
            CWnd = 10 * 1448,
            SsThresh = 0x7FFF_FFFF,
        },
    };

    private static async Task Cycle(OffloadSocket socket)
    {
        await socket.UploadAsync().ConfigureAwait(false);
        if (!await socket.OffloadAsync().ConfigureAwait(false))
            throw new InvalidOperationException("the daemon's target refused the re-offload");
    }

    private static async Task<int> Scale(string socket, int daemonPid, string local, Ipv4Address remoteAddress, ushort port, int nports,
        int idle, int active, double seconds, double idleSeconds)
    {
        using var remote = RemoteOffloadTarget.Connect(socket, new RemoteOffloadTargetOptions { ClientName = $"bench scale pid {Environment.ProcessId}" });
        using var stack = OpenStack(remote, local, ephemeralStart: 1024);
        var activeSockets = await OpenMany(stack, remoteAddress, port, nports, 0, active).ConfigureAwait(false);
        await Throughput(activeSockets, 1).ConfigureAwait(false);   // warm-up (JIT, windows opening), not counted
        double alone = await Throughput(activeSockets, seconds).ConfigureAwait(false);
        Progress($"scale: {active} active alone {alone * 8 / 1e6:F0} Mb/s; opening {idle} idle");

        // The daemon's live managed bytes after a full GC and the receive storage its connections hold, before and after
        // (its diagnostics port; -1 when it cannot be read). The induced GC comes before the VmRSS reading.
        // Read twice, 2 s apart, and keep the second: the first GC after the throughput run lets go of what that run
        // left (its completions, pooled send data handed back), which would otherwise count against the idle ones.
        await Task.Delay(2000).ConfigureAwait(false);
        var (heapA, _) = DaemonMemory.Read(daemonPid, TimeSpan.FromSeconds(15));
        await Task.Delay(2000).ConfigureAwait(false);
        var (heap0, rcvbuf0) = DaemonMemory.Read(daemonPid, TimeSpan.FromSeconds(15));
        Progress($"scale: daemon heap {heapA} then {heap0} bytes before opening the idle ones");
        long rss0 = Rss(daemonPid);
        var open = Stopwatch.StartNew();
        var idleSockets = await OpenMany(stack, remoteAddress, port, nports, active, idle).ConfigureAwait(false);
        double openSeconds = open.Elapsed.TotalSeconds;
        await Task.Delay(1000).ConfigureAwait(false);
        long rss1 = Rss(daemonPid);
        double cpu0 = Cpu(daemonPid);
        var idleWatch = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(idleSeconds)).ConfigureAwait(false);
        double idleCpu = (Cpu(daemonPid) - cpu0) / idleWatch.Elapsed.TotalSeconds;
        var (heap1, rcvbuf1) = DaemonMemory.Read(daemonPid, TimeSpan.FromSeconds(15));
        long rss2 = Rss(daemonPid);
        int offloaded = 0;
        foreach (var s in idleSockets) if (s.Location == ConnectionLocation.Offloaded) offloaded++;
        Progress($"scale: {offloaded} of {idle} idle offloaded in {openSeconds:F1} s; measuring {active} active among them");
        double among = await Throughput(activeSockets, seconds).ConfigureAwait(false);
        int n = Math.Max(1, idle);
        // Managed heap per idle connection excluding receive buffers: the live bytes' growth less the growth of the
        // receive storage held (none while the connections are idle; the buffers are in the managed heap when held).
        bool buffersRead = rcvbuf0 >= 0 && rcvbuf1 >= 0;
        string heap = (heap0 >= 0 && heap1 >= 0
                ? string.Create(Inv, $"heap_before={heap0} heap_after={heap1} heap_bytes_per_conn={(heap1 - heap0 - (buffersRead ? rcvbuf1 - rcvbuf0 : 0)) / (double)n:F1}")
                : "heap_bytes_per_conn=")
            + (buffersRead ? string.Create(Inv, $" rcvbuf_bytes={rcvbuf1} rcvbuf_bytes_per_conn={rcvbuf1 / (double)n:F1}") : " rcvbuf_bytes_per_conn=");
        Console.WriteLine(string.Create(Inv,
            $"idle={idle} idle_offloaded={offloaded} open_s={openSeconds:F3} rss_before={rss0} rss_after={rss1} rss_after_gc={rss2} bytes_per_conn={(rss1 - rss0) / (double)n:F1} {heap} idle_cpu_core={idleCpu:F5} active={active} alone_Bps={alone:F0} among_Bps={among:F0} ratio={among / Math.Max(1, alone):F3}"));
        foreach (var s in activeSockets) s.Abort();
        foreach (var s in idleSockets) s.Abort();
        return offloaded == idle ? 0 : 1;
    }

    private static void Progress(string line)
    {
        Console.Error.WriteLine(line);
    }

    private const int PerListener = 15_000;

    private static async Task<List<OffloadSocket>> OpenMany(HostStack.HostStack stack, Ipv4Address remote, ushort port, int nports, int first, int count)
    {
        var sockets = new OffloadSocket[count];
        var report = Stopwatch.StartNew();
        int done = 0;
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
        {
            // Connection k goes to listener port k / 15,000 (one kernel process per port, scripts/bench.sh): the stack's ephemeral ports (1024..65535) repeat after 64,512
            // connections, and a repeat then goes to another remote port, so every 4-tuple is distinct.
            int listener = Math.Min(nports - 1, (first + i) / PerListener);
            sockets[i] = await stack.ConnectAsync(remote, (ushort)(port + listener), ct).ConfigureAwait(false);
            int d = Interlocked.Increment(ref done);
            if (report.Elapsed.TotalSeconds >= 5)
            {
                report.Restart();
                Progress($"scale: {d} of {count} connected");
            }
        }).ConfigureAwait(false);
        // Offloaded right after the handshake (the default policy): wait for every one to be on the target.
        var wait = Stopwatch.StartNew();
        report.Restart();
        while (wait.Elapsed.TotalSeconds < 60 + count / 1000)
        {
            int n = 0;
            foreach (var s in sockets) if (s.Location == ConnectionLocation.Offloaded) n++;
            if (n == count) break;
            if (report.Elapsed.TotalSeconds >= 5)
            {
                report.Restart();
                Progress($"scale: {n} of {count} offloaded");
            }
            await Task.Delay(100).ConfigureAwait(false);
        }
        return [.. sockets];
    }

    /// <summary>Every socket writes 64 KiB blocks as fast as it can; bytes written between 1 s and 1 + seconds s,
    /// when every send buffer is full, are what the connections carried.</summary>
    private static async Task<double> Throughput(List<OffloadSocket> sockets, double seconds)
    {
        var block = new byte[64 * 1024];
        long written = 0;
        using var stop = new CancellationTokenSource();
        var writers = new Task[sockets.Count];
        for (int i = 0; i < sockets.Count; i++)
        {
            var s = sockets[i];
            writers[i] = Task.Run(async () =>
            {
                try
                {
                    while (!stop.IsCancellationRequested)
                    {
                        await s.WriteAsync(block, stop.Token).ConfigureAwait(false);
                        Interlocked.Add(ref written, block.Length);
                    }
                }
                catch (OperationCanceledException)
                {
                }
            });
        }
        await Task.Delay(1000).ConfigureAwait(false);
        long w0 = Interlocked.Read(ref written);
        var sw = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
        long w1 = Interlocked.Read(ref written);
        double elapsed = sw.Elapsed.TotalSeconds;
        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        return (w1 - w0) / elapsed;
    }

    private static long Rss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(parts[1], Inv) * 1024;
        }
        return 0;
    }

    private static double Cpu(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is the state (field 3): utime is field 14, stime 15.
        return (long.Parse(fields[11], Inv) + long.Parse(fields[12], Inv)) / 100.0;
    }
}
