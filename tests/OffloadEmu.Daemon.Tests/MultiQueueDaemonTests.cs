using System.Diagnostics;
using System.Text.Json;
using OffloadEmu.Chimney.State;
using OffloadEmu.Link.Capture;
using OffloadEmu.Wire;
using Xunit.Abstractions;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// <c>Nic:Queues=2</c> in the daemon over a real multi-queue TAP (docs/target.md, "Several link queues"): offloademud
/// opens two queues of a TAP made with <c>multi_queue</c>, one receive thread and one engine loop each, and one pcapng
/// capture for both. Four connections from the kernel (a client in the namespace, its source ports chosen so that the
/// loop hash gives two to each loop) to <c>offloademu listen --echo</c> processes, and four to the kernel's socat echo
/// from <c>offloademu connect --echo-check</c> processes, all at once, offloaded, byte-exact both ways. The status shows
/// two device queues and both loops owning connections and moving frames; SIGTERM stops the daemon cleanly, and the
/// capture holds both queues' frames, well formed. The kernel lives in our own namespace oe-dmq&lt;tag&gt;&lt;pid&gt;
/// (198.18.238.1/24), addresses only from 198.18.0.0/15, no route out; the namespace, the TAP and every process (by
/// PID) are removed at the end.
/// </summary>
[Trait("Category", "Privileged")]
public sealed class MultiQueueDaemonTests : IDisposable
{
    private const int Subnet = 238;
    private const int EachWay = 4;
    private const long Bytes = 3L << 20;
    private readonly ITestOutputHelper _output;
    private readonly DaemonTapLab _lab = new("oe-dmq", "oedmq", Subnet);

    public MultiQueueDaemonTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _lab.Dispose();

    // The kernel side of the connections it opens: bind the chosen source port, send a seeded pattern while reading the
    // echo, stay open 4 s, half-close, read to the end, print one JSON line with both digests.
    private const string KernelClient = """
        import hashlib, json, random, socket, sys, threading
        src, dst, dport, sport, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        data = random.Random(seed).randbytes(n)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((src, sport))
        s.settimeout(90)
        for attempt in range(40):
            try:
                s.connect((dst, dport))
                break
            except (ConnectionRefusedError, OSError) as e:
                if attempt == 39: raise
                s.close()
                import time; time.sleep(0.25)
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((src, sport)); s.settimeout(90)
        got = hashlib.sha256(); count = [0]
        def reader():
            while True:
                b = s.recv(65536)
                if not b: break
                got.update(b); count[0] += len(b)
        t = threading.Thread(target=reader); t.start()
        s.sendall(data)
        # Stay open a while (the echo comes back meanwhile), so that the test's status samples, each an offloademu
        # process of about a second, see every connection owned by its loop even when the transfer itself is quick.
        import time; time.sleep(4)
        s.shutdown(socket.SHUT_WR)
        t.join(90)
        s.close()
        print(json.dumps({"sport": sport, "sent": n, "received": count[0], "ok": got.hexdigest() == hashlib.sha256(data).hexdigest()}))
        """;

    [Fact]
    public void Two_queue_TAP_two_loops_connections_both_ways_byte_exact_per_loop_counters_and_one_capture()
    {
        if (!Privileged.ShouldRun()) return;
        if (!Cmd.Exists("socat")) Assert.Fail("this test needs socat (scripts/test.sh installs it)");
        if (!Cmd.Exists("python3")) Assert.Fail("this test needs python3 (the kernel-side client)");
        var clock = Stopwatch.StartNew();

        string capture = _lab.Dir.File("daemon.pcapng");
        using var daemon = _lab.StartDaemon("02:00:00:18:ee:02", $$"""{ "File": "{{capture}}", "Format": "pcapng", "SnapLength": 128 }""",
            new Dictionary<string, string> { ["OFFLOADEMU_Nic__Queues"] = "2" }, multiQueue: true);
        DaemonTapLab.WaitFor(() => daemon.Stdout.Contains("over 2 device queues", StringComparison.Ordinal), "the daemon's line on its two device queues");
        _lab.HandTapToKernelWithEcho(fork: true);
        string script = _lab.Dir.Write("kernel_client.py", KernelClient);

        // From the kernel: listeners at .20-.23, the kernel's source ports picked so that the loops get two each.
        var kernel = new IpAddressValue(Ipv4Address.Parse(_lab.KernelIp));
        var listeners = new List<Process>();
        var clients = new List<(Process Process, int Loop)>();
        for (int i = 0; i < EachWay; i++)
        {
            listeners.Add(_lab.Start(DaemonTapLab.Dotnet, DaemonTapLab.Cli, "listen", "9000", "--echo", "--daemon", _lab.Socket,
                "--local", $"{_lab.Address(20 + i)}/24", "--offload", "immediate", "--json", "--arp-tries", "10", "--timeout", "90"));
        }
        DaemonTapLab.WaitFor(() => Sessions() >= EachWay, "the listeners bound to the daemon", 60);
        for (int i = 0; i < EachWay; i++)
        {
            int loop = i % 2;
            var ours = new IpAddressValue(Ipv4Address.Parse(_lab.Address(20 + i)));
            ushort sport = 41000;
            while (Target.LoopHash.LoopOf(new Target.ConnectionKey(kernel, ours, sport, 9000), 2) != loop) sport++;
            clients.Add((_lab.Start("ip", "netns", "exec", _lab.Namespace, "python3", script, _lab.KernelIp, _lab.Address(20 + i), "9000",
                sport.ToString(), Bytes.ToString(), (7 + i).ToString()), loop));
        }
        // To the kernel: connect processes at .2-.5 (their ports are the host stacks' own: the hash puts them anywhere).
        var connects = new List<Process>();
        for (int i = 0; i < EachWay; i++)
            connects.Add(_lab.Start(DaemonTapLab.Dotnet, _lab.ConnectArgs(2 + i, Bytes.ToString(), "--timeout", "90")));

        // While they run: the most connections each loop owned at once.
        var most = new int[2];
        int deviceQueues = 0;
        var all = listeners.Concat(clients.Select(c => c.Process)).Concat(connects).ToList();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(150);
        while (all.Any(p => !p.HasExited) && DateTime.UtcNow < deadline)
        {
            using (var doc = _lab.Status())
            {
                if (doc is not null && doc.RootElement.GetProperty("target").TryGetProperty("loops", out var loops))
                {
                    deviceQueues = doc.RootElement.GetProperty("target").GetProperty("device_queues").GetInt32();
                    foreach (var loop in loops.EnumerateArray())
                    {
                        int i = loop.GetProperty("loop").GetInt32();
                        most[i] = Math.Max(most[i], loop.GetProperty("connections").GetInt32());
                    }
                }
            }
            Thread.Sleep(300);
        }
        foreach (var p in all)
            if (!p.WaitForExit(5_000)) Assert.Fail($"a transfer did not end in time; daemon:\n{daemon.Stdout}");

        // Byte-exact both ways, every connection.
        foreach (var (p, loop) in clients)
        {
            string line = p.StandardOutput.ReadToEnd().Trim();
            _output.WriteLine($"kernel client (loop {loop}): {line} {p.StandardError.ReadToEnd()}");
            Assert.Equal(0, p.ExitCode);
            using var doc = JsonDocument.Parse(line);
            Assert.Equal(Bytes, doc.RootElement.GetProperty("received").GetInt64());
            Assert.True(doc.RootElement.GetProperty("ok").GetBoolean(), line);
        }
        foreach (var p in listeners.Concat(connects))
        {
            string stdout = p.StandardOutput.ReadToEnd().Trim(), stderr = p.StandardError.ReadToEnd();
            _output.WriteLine(stdout);
            Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {stderr}\n{stdout}");
            using var doc = JsonDocument.Parse(stdout.Split('\n')[^1]);
            var j = doc.RootElement;
            Assert.Equal(Bytes, j.GetProperty("bytes_received").GetInt64());
            Assert.Equal(Bytes, j.GetProperty("bytes_sent").GetInt64());
            Assert.True(j.GetProperty("offloads").GetInt32() >= 1, stdout);
            if (j.TryGetProperty("echo_check", out var check) && check.ValueKind == JsonValueKind.Object)
                Assert.True(check.GetProperty("ok").GetBoolean(), stdout);
        }

        // Both loops owned connections and moved their frames, over two device queues.
        Assert.Equal(2, deviceQueues);
        _output.WriteLine($"most connections at once per loop: {most[0]}, {most[1]}");
        Assert.All(most, n => Assert.True(n >= 1, $"a loop never owned a connection: {most[0]}, {most[1]}"));
        using (var doc = _lab.Status())
        {
            Assert.NotNull(doc);
            var loops = doc.RootElement.GetProperty("target").GetProperty("loops").EnumerateArray().ToList();
            Assert.Equal(2, loops.Count);
            long minimum = Bytes / 1448;   // each loop carried at least one connection's data one way
            foreach (var loop in loops)
            {
                _output.WriteLine(loop.ToString());
                Assert.True(loop.GetProperty("frames_in").GetInt64() > minimum, loop.ToString());
                Assert.True(loop.GetProperty("frames_out").GetInt64() > minimum, loop.ToString());
            }
            // Frames go to their owner's queue (tun's automq follows our sends): hand-offs stay a small share.
            long handed = loops.Sum(l => l.GetProperty("handed_off").GetInt64());
            long frames = loops.Sum(l => l.GetProperty("frames_in").GetInt64());
            Assert.True(handed < frames / 4, $"{handed} of {frames} frames handed between loops");
        }
        var text = Cmd.TryRun(DaemonTapLab.Dotnet, [DaemonTapLab.Cli, "status", "--daemon", _lab.Socket], environment: null, timeoutMilliseconds: 20_000);
        _output.WriteLine(text.Stdout);
        Assert.Contains("2 engine loops over 2 device queues", text.Stdout);
        Assert.Contains("loop 1", text.Stdout);

        daemon.Terminate();
        Assert.Equal("STOPPING=1", _lab.Notify!.Receive());
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("", daemon.Stderr);

        // One capture for both queues: every data frame of every connection, on the TAP's interface, well formed.
        var reader = CaptureReader.Open(capture);
        int inbound = 0, outbound = 0;
        while (reader.TryRead(out var frame))
        {
            if (frame.Interface.LinkType == 252) continue;
            Assert.Equal(_lab.Tap, frame.InterfaceName);
            if (frame.Direction == CaptureDirection.Inbound) inbound++;
            else outbound++;
        }
        long dataFrames = 2 * EachWay * Bytes / 1448;
        Assert.True(inbound > dataFrames && outbound > dataFrames, $"{inbound} in, {outbound} out; expected more than {dataFrames} each");
        Assert.Equal("", Cmd.Run("tshark", "-r", capture, "-n", "-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number").Trim());
        _output.WriteLine($"{inbound} frames in, {outbound} out captured; {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Theory]
    [InlineData(true, "1", "Offload target on ")]
    [InlineData(false, "2", "over 1 device queue of")]
    public void A_multi_queue_TAP_serves_one_loop_and_a_single_queue_TAP_two_loops_sharing_it(bool multiQueue, string queues, string expected)
    {
        if (!Privileged.ShouldRun()) return;
        using var daemon = _lab.StartDaemon("02:00:00:18:ee:03", environment: new Dictionary<string, string> { ["OFFLOADEMU_Nic__Queues"] = queues },
            multiQueue: multiQueue);
        DaemonTapLab.WaitFor(() => daemon.Stdout.Contains(expected, StringComparison.Ordinal), expected);
        if (!multiQueue)
        {
            // The reason is in the line: the TAP was made without multi_queue.
            Assert.Contains("1 of 2 queues opened", daemon.Stdout);
            Assert.Contains("multi_queue", daemon.Stdout);
        }
        using (var doc = _lab.Status())
        {
            Assert.NotNull(doc);
            var target = doc.RootElement.GetProperty("target");
            Assert.Equal(multiQueue ? 0 : 2, target.TryGetProperty("loops", out var loops) ? loops.GetArrayLength() : 0);
        }
        daemon.Terminate();
        Assert.Equal("STOPPING=1", _lab.Notify!.Receive());
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("", daemon.Stderr);
    }

    private int Sessions()
    {
        using var doc = _lab.Status();
        return doc?.RootElement.GetProperty("sessions").GetArrayLength() ?? 0;
    }
}
