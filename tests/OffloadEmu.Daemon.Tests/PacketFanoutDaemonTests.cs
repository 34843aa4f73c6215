using System.Diagnostics;
using System.Text.Json;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;
using Xunit.Abstractions;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// <c>Nic:Queues=2</c> in the daemon over an AF_PACKET link (docs/target.md, "Several link queues"): offloademud with
/// <c>Link:Kind=packet</c> on a veth end in a namespace of this test's own opens two packet sockets joined in one
/// PACKET_FANOUT group (hash mode), one receive thread and one engine loop each. The kernel's end of the veth is in a
/// second namespace (198.18.235.1/24, socat echo on port 7, offloads off on both ends as in scripts/lab.sh's veth part).
/// Twelve connections from the kernel (two kernel clients one after the other against two <c>offloademu listen --echo
/// --count 6</c> processes, their source ports picked so that our loop hash gives each loop six) and two
/// <c>offloademu connect --echo-check</c> to the kernel's echo: every one byte-exact both ways.
/// <para>Deterministic, so asserted: two device queues; each loop processed the frames of the connections it owns (our
/// hash); a frame read on the socket of the loop that does not own its connection is handed over, and the per-loop
/// counters add up to every frame the link read. Up to the kernel: which socket of the group reads a flow (its own flow
/// hash, seeded at boot): with 14 flows both sockets read frames unless the hash puts all 14 on one (1 in 8,192), which
/// the test reports rather than hides.</para>
/// Addresses only from 198.18.0.0/15, no route out; both namespaces (and the veth with them) and every process (by PID)
/// are removed at the end.
/// </summary>
[Trait("Category", "Privileged")]
public sealed class PacketFanoutDaemonTests : IDisposable
{
    private const int Subnet = 235;
    private const int PerListener = 6;
    private const long Bytes = 2L << 20;
    private readonly ITestOutputHelper _output;
    private readonly List<Process> _processes = [];
    private readonly TempDirectory _dir = new();
    private readonly string _emuNs;
    private readonly string _peerNs;
    private readonly string _emuIf;
    private readonly string _peerIf;

    public PacketFanoutDaemonTests(ITestOutputHelper output)
    {
        _output = output;
        string tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
        _emuNs = $"oe-pfe{tag}{Environment.ProcessId}";
        _peerNs = $"oe-pfk{tag}{Environment.ProcessId}";
        _emuIf = $"oepf{Environment.ProcessId % 1_000_000}e";
        _peerIf = $"oepf{Environment.ProcessId % 1_000_000}k";
    }

    private string Socket => _dir.File("control.sock");
    private static string KernelIp => $"198.18.{Subnet}.1";
    private static string Address(int host) => $"198.18.{Subnet}.{host}";

    // The kernel side of the connections it opens, one after the other: per connection bind the chosen source port,
    // send a seeded pattern while reading the echo, half-close, read to the end; one JSON line each.
    private const string KernelClient = """
        import hashlib, json, random, socket, sys, threading, time
        src, dst, dport, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        n, sports = int(sys.argv[5]), [int(p) for p in sys.argv[6].split(',')]
        for k, sport in enumerate(sports):
            data = random.Random(seed + k).randbytes(n)
            for attempt in range(60):
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((src, sport)); s.settimeout(60)
                try:
                    s.connect((dst, dport))
                    break
                except OSError:
                    s.close()
                    if attempt == 59: raise
                    time.sleep(0.25)
            got = hashlib.sha256(); count = [0]
            def reader():
                while True:
                    b = s.recv(65536)
                    if not b: break
                    got.update(b); count[0] += len(b)
            t = threading.Thread(target=reader); t.start()
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            t.join(60)
            s.close()
            print(json.dumps({"sport": sport, "sent": n, "received": count[0], "ok": got.hexdigest() == hashlib.sha256(data).hexdigest()}), flush=True)
        """;

    private Process Start(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        _processes.Add(p);
        return p;
    }

    private JsonDocument? Status()
    {
        var run = Cmd.TryRun(DaemonTapLab.Dotnet, [DaemonTapLab.Cli, "status", "--daemon", Socket, "--json"], environment: null, timeoutMilliseconds: 20_000);
        return run.Code == 0 ? JsonDocument.Parse(run.Stdout.Trim()) : null;
    }

    private void MakeLab()
    {
        foreach (var ns in new[] { _emuNs, _peerNs })
        {
            Cmd.Run("ip", "netns", "add", ns);
            Cmd.Run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
            Cmd.Run("ip", "-n", ns, "link", "set", "lo", "up");
        }
        Cmd.TryRun("ip", "netns", "exec", _peerNs, "sysctl", "-qw", "net.ipv4.tcp_congestion_control=cubic");
        Cmd.Run("ip", "-n", _emuNs, "link", "add", _emuIf, "type", "veth", "peer", "name", _peerIf, "netns", _peerNs);
        // Wire-sized, fully checksummed frames both ways (an AF_PACKET link carries no virtio-net header).
        Cmd.TryRun("ip", "netns", "exec", _emuNs, "ethtool", "-K", _emuIf, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
        Cmd.TryRun("ip", "netns", "exec", _peerNs, "ethtool", "-K", _peerIf, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
        // The emulator's end has no address: the emulator owns its addresses itself, the namespace's kernel must not answer.
        Cmd.Run("ip", "-n", _emuNs, "link", "set", _emuIf, "up");
        Cmd.Run("ip", "-n", _peerNs, "addr", "add", $"{KernelIp}/24", "dev", _peerIf);
        Cmd.Run("ip", "-n", _peerNs, "link", "set", _peerIf, "up");
        Start("ip", "netns", "exec", _peerNs, "socat", "-b", "4096", "TCP-LISTEN:7,reuseaddr,fork", "PIPE");
        DaemonTapLab.WaitFor(() => Cmd.TryRun("ip", "netns", "exec", _peerNs, "ss", "-Hltn", "sport = :7").Stdout.Contains(":7", StringComparison.Ordinal),
            "socat listening on port 7");
    }

    [Fact]
    public void Two_socket_fanout_group_two_loops_connections_both_ways_byte_exact_per_loop_counters()
    {
        if (!Privileged.ShouldRun()) return;
        if (!Cmd.Exists("socat")) Assert.Fail("this test needs socat (scripts/test.sh installs it)");
        if (!Cmd.Exists("python3")) Assert.Fail("this test needs python3 (the kernel-side client)");
        var clock = Stopwatch.StartNew();
        MakeLab();

        string config = _dir.Write("emulator.json", $$"""
            {
              "Link": { "Kind": "packet", "Interface": "{{_emuIf}}", "MacAddress": "02:00:00:18:eb:02" },
              "Nic": { "Queues": 2 },
              "Capture": { "File": "" },
              "Control": { "Endpoint": "{{Socket}}" },
              "Logging": { "Serilog": { "MinimumLevel": { "Default": "Information" }, "WriteTo": [ { "Name": "Console" } ] } }
            }
            """);
        using var notify = new NotifySocket(_dir.File("notify.sock"));
        using var daemon = DaemonProcess.Start(_dir.Path, ["--config", config], new Dictionary<string, string> { ["NOTIFY_SOCKET"] = notify.Address },
            prefix: ["ip", "netns", "exec", _emuNs]);
        Assert.Equal("READY=1", notify.Receive());
        DaemonTapLab.WaitFor(() => daemon.Stdout.Contains("over 2 device queues", StringComparison.Ordinal), "the daemon's line on its two device queues");
        string script = _dir.Write("kernel_client.py", KernelClient);

        // From the kernel: two listeners (.20, .21), each taking six connections one after the other, the kernel's
        // source ports picked so that our loop hash gives each loop three of each listener's.
        var kernel = new IpAddressValue(Ipv4Address.Parse(KernelIp));
        var listeners = new List<Process>();
        var clients = new List<Process>();
        for (int l = 0; l < 2; l++)
        {
            listeners.Add(Start(DaemonTapLab.Dotnet, DaemonTapLab.Cli, "listen", "9000", "--echo", "--count", PerListener.ToString(), "--daemon", Socket,
                "--local", $"{Address(20 + l)}/24", "--offload", "immediate", "--json", "--arp-tries", "10", "--timeout", "90"));
        }
        DaemonTapLab.WaitFor(() => Sessions() >= 2, "the listeners bound to the daemon", 60);
        var owner = new Dictionary<(int Listener, int Port), int>();
        for (int l = 0; l < 2; l++)
        {
            var ours = new IpAddressValue(Ipv4Address.Parse(Address(20 + l)));
            var ports = new List<int>();
            ushort sport = (ushort)(42000 + 1000 * l);
            for (int i = 0; i < PerListener; i++, sport++)
            {
                while (Target.LoopHash.LoopOf(new Target.ConnectionKey(kernel, ours, sport, 9000), 2) != i % 2) sport++;
                ports.Add(sport);
                owner[(l, sport)] = i % 2;
            }
            clients.Add(Start("ip", "netns", "exec", _peerNs, "python3", script, KernelIp, Address(20 + l), "9000", (100 * l).ToString(),
                Bytes.ToString(), string.Join(',', ports)));
        }
        // To the kernel: two connect processes at .2 and .3 (their ports are the host stacks' own: the hash puts them anywhere).
        var connects = new List<Process>();
        for (int i = 0; i < 2; i++)
        {
            connects.Add(Start(DaemonTapLab.Dotnet, DaemonTapLab.Cli, "connect", $"{KernelIp}:7", "--daemon", Socket, "--local", $"{Address(2 + i)}/24",
                "--echo-check", "--send-bytes", (4 * Bytes).ToString(), "--offload", "immediate", "--json", "--arp-tries", "10", "--timeout", "90"));
        }

        foreach (var p in listeners.Concat(clients).Concat(connects))
            if (!p.WaitForExit(120_000)) Assert.Fail($"a transfer did not end in time; daemon:\n{daemon.Stdout}");

        // Byte-exact both ways, every connection.
        int fromKernel = 0;
        for (int l = 0; l < 2; l++)
        {
            var p = clients[l];
            string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
            _output.WriteLine($"kernel client {l}:\n{stdout}{stderr}");
            Assert.True(p.ExitCode == 0, $"kernel client {l} exit {p.ExitCode}: {stderr}\n{stdout}\ndaemon:\n{daemon.Stdout}");
            foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                using var doc = JsonDocument.Parse(line);
                Assert.Equal(Bytes, doc.RootElement.GetProperty("received").GetInt64());
                Assert.True(doc.RootElement.GetProperty("ok").GetBoolean(), line);
                Assert.True(owner.ContainsKey((l, doc.RootElement.GetProperty("sport").GetInt32())), line);
                fromKernel++;
            }
        }
        Assert.Equal(2 * PerListener, fromKernel);
        foreach (var p in listeners)
        {
            string stdout = p.StandardOutput.ReadToEnd().Trim(), stderr = p.StandardError.ReadToEnd();
            Assert.True(p.ExitCode == 0, $"listen exit {p.ExitCode}: {stderr}\n{stdout}");
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(PerListener, lines.Length);
            foreach (var line in lines)
            {
                using var doc = JsonDocument.Parse(line);
                Assert.Equal(Bytes, doc.RootElement.GetProperty("bytes_received").GetInt64());
                Assert.Equal(Bytes, doc.RootElement.GetProperty("bytes_sent").GetInt64());
                Assert.True(doc.RootElement.GetProperty("offloads").GetInt32() >= 1, line);
            }
        }
        foreach (var p in connects)
        {
            string stdout = p.StandardOutput.ReadToEnd().Trim(), stderr = p.StandardError.ReadToEnd();
            _output.WriteLine(stdout);
            Assert.True(p.ExitCode == 0, $"connect exit {p.ExitCode}: {stderr}\n{stdout}");
            using var doc = JsonDocument.Parse(stdout);
            var j = doc.RootElement;
            Assert.Equal(4 * Bytes, j.GetProperty("bytes_received").GetInt64());
            Assert.True(j.GetProperty("echo_check").GetProperty("ok").GetBoolean(), stdout);
            Assert.True(j.GetProperty("offloads").GetInt32() >= 1, stdout);
        }

        // Two device queues (the fanout group) and two loops; each loop processed its own connections' frames.
        using (var doc = Status())
        {
            Assert.NotNull(doc);
            var target = doc.RootElement.GetProperty("target");
            var link = doc.RootElement.GetProperty("link");
            Assert.Equal("packet", link.GetProperty("kind").GetString());
            Assert.Equal(2, target.GetProperty("device_queues").GetInt32());
            var loops = target.GetProperty("loops").EnumerateArray().ToList();
            Assert.Equal(2, loops.Count);
            foreach (var loop in loops) _output.WriteLine(loop.ToString());
            _output.WriteLine(link.ToString());
            // Each loop owned six kernel-opened echoes of 2 MiB: at least that much data in and out, wire-sized.
            long minimum = PerListener / 2 * Bytes / 1448;
            foreach (var loop in loops)
            {
                Assert.True(loop.GetProperty("frames_in").GetInt64() > minimum, loop.ToString());
                Assert.True(loop.GetProperty("frames_out").GetInt64() > minimum, loop.ToString());
            }
            // What each socket of the group read: its loop's frames, less those handed to it, plus those it handed on.
            long[] processed = [.. loops.Select(l => l.GetProperty("frames_in").GetInt64())];
            long[] handed = [.. loops.Select(l => l.GetProperty("handed_off").GetInt64())];
            long[] dropped = [.. loops.Select(l => l.GetProperty("hand_off_drops").GetInt64())];
            long[] read = [processed[0] - handed[1] + handed[0] + dropped[0], processed[1] - handed[0] + handed[1] + dropped[1]];
            _output.WriteLine($"read per socket: {read[0]}, {read[1]}; handed off {handed[0]}, {handed[1]}");
            // Every frame the link read reached a loop (own, handed over, or a counted drop) and nothing else.
            long linkIn = link.GetProperty("frames_in").GetInt64();
            Assert.True(read[0] + read[1] <= linkIn && read[0] + read[1] >= linkIn - 64, $"loops account for {read[0] + read[1]} of {linkIn} frames read");
            Assert.True(read[0] > 0 && read[1] > 0,
                $"one socket of the fanout group read nothing ({read[0]}, {read[1]}): the kernel's flow hash put all 14 flows on one (1 in 8,192)");
        }
        var text = Cmd.TryRun(DaemonTapLab.Dotnet, [DaemonTapLab.Cli, "status", "--daemon", Socket], environment: null, timeoutMilliseconds: 20_000);
        _output.WriteLine(text.Stdout);
        Assert.Contains("2 engine loops over 2 device queues", text.Stdout);

        daemon.Terminate();
        Assert.Equal("STOPPING=1", notify.Receive());
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("", daemon.Stderr);
        _output.WriteLine($"test {clock.Elapsed.TotalSeconds:F1} s");
    }

    private int Sessions()
    {
        using var doc = Status();
        return doc?.RootElement.GetProperty("sessions").GetArrayLength() ?? 0;
    }

    public void Dispose()
    {
        Cmd.KillEach(_processes);
        // Processes still in the lab's own namespaces (socat's per-connection children), by PID; then the namespaces
        // (the veth goes with them).
        foreach (var ns in new[] { _peerNs, _emuNs })
        {
            foreach (var pid in Cmd.TryRun("ip", "netns", "pids", ns).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                Cmd.TryRun("kill", "-KILL", pid.Trim());
            Cmd.TryRun("ip", "-n", ns, "link", "del", ns == _emuNs ? _emuIf : _peerIf);
            Cmd.TryRun("ip", "netns", "del", ns);
        }
        _dir.Dispose();
    }
}
