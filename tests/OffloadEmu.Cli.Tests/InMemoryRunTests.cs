using System.Text.Json;
using OffloadEmu.Cli.Session;
using OffloadEmu.Link.Capture;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Cli.Tests;

/// <summary>
/// connect and listen end to end without privileges: both run in this process, each with its own offload target and
/// host stack, on the two ends of a <see cref="MemoryLink"/> handed in through <see cref="TargetFactory.DeviceOverride"/>
/// for links named mema / memb (any other name opens a real device, so parallel tests are unaffected).
/// </summary>
public sealed class InMemoryRunTests : IDisposable
{
    private readonly MemoryLink _a;
    private readonly MemoryLink _b;
    private readonly TaskCompletionSource _listenerLinkOpened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"oe-cli-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public InMemoryRunTests()
    {
        MemoryLink.CreatePair(out _a, out _b, new MemoryLinkOptions { NameA = "mema", NameB = "memb" });
        TargetFactory.DeviceOverride = spec =>
        {
            if (spec.Name == "memb") _listenerLinkOpened.TrySetResult();
            return spec.Name switch { "mema" => new KeptLink(_a), "memb" => new KeptLink(_b), _ => null };
        };
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        TargetFactory.DeviceOverride = null;
        _a.Dispose();
        _b.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Waits until the listening side opened its link: its host stack answers ARP from its start on, and its
    /// listener is registered before the connecting side's ARP request can have been answered.</summary>
    private Task ListenerStarting() => _listenerLinkOpened.Task.WaitAsync(TimeSpan.FromSeconds(60));

    /// <summary>stderr without the indented state lines OFFLOADEMU_TIMEOUT_STATE adds after a transfer's timeout (set for
    /// every test of this assembly: TestEnvironment).</summary>
    private static string WithoutTimeoutState(string stderr)
        => string.Concat(stderr.Split('\n').Where(l => !l.StartsWith("  at the timeout", StringComparison.Ordinal)).Select(l => l + "\n")).TrimEnd('\n') + "\n";

    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int exit = CliApp.Run(args, o, e);
        return (exit, o.ToString(), e.ToString());
    }

    [Fact]
    public async Task Connect_through_a_daemon_control_socket_echo_checks_against_listen_echo()
    {
        // The daemon's half: an offload target on mema served over a control socket (what offloademud does).
        using var target = new OffloadEmu.Target.OffloadTarget(new KeptLink(_a));
        string socket = Path.Combine(_dir, "control.sock");
        await using var server = new OffloadEmu.Control.Server.ControlServer(target, new OffloadEmu.Control.Server.ControlServerOptions { Path = socket });
        server.Start();
        target.Start();
        var listen = Task.Run(() => Run("listen", "7", "--echo", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "60"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--daemon", socket, "--local", "198.18.0.2/24", "--echo-check",
            "--send-bytes", "2M", "--offload", "immediate", "--json", "--timeout", "60");
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}");
        using var doc = JsonDocument.Parse(stdout.Trim());
        var j = doc.RootElement;
        Assert.Equal(2L << 20, j.GetProperty("bytes_received").GetInt64());
        Assert.True(j.GetProperty("echo_check").GetProperty("ok").GetBoolean());
        Assert.True(j.GetProperty("offloads").GetInt32() >= 1, stdout);
        var (lexit, lout, lerr) = await listen;
        Assert.True(lexit == 0, $"listen exit {lexit}: {lerr}\n{lout}");
    }

    // The engine busy polls here in the reader-thread loop (in-memory link); the TAP's inline loop runs in the privileged tests.
    [Fact]
    public async Task Ping_pong_against_listen_echo_times_every_round_trip_with_busy_poll()
    {
        var listen = Task.Run(() => Run("listen", "7", "--echo", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "60"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--link", "tap:mema", "--local", "198.18.0.2/24", "--ping-pong", "300",
            "--busy-poll", "200", "--json", "--timeout", "60");
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}");
        using var doc = JsonDocument.Parse(stdout.Trim());
        var j = doc.RootElement;
        Assert.Equal("ping-pong", j.GetProperty("mode").GetString());
        Assert.Equal(300, j.GetProperty("round_trips").GetInt32());
        Assert.Equal(200, j.GetProperty("busy_poll_us").GetInt32());
        double tps = j.GetProperty("transactions_per_second").GetDouble();
        double seconds = j.GetProperty("seconds").GetDouble();
        Assert.True(tps > 0 && Math.Abs(tps * seconds - 300) < 1, stdout);
        var rtt = j.GetProperty("round_trip_us");
        double p50 = rtt.GetProperty("p50").GetDouble(), p99 = rtt.GetProperty("p99").GetDouble(), max = rtt.GetProperty("max").GetDouble();
        Assert.True(p50 > 0 && p50 <= p99 && p99 <= max, stdout);
        // The round trips happened one at a time: together they cannot take longer than the run.
        Assert.True(p50 * 150 / 1e6 <= seconds, stdout);
        var (lexit, lout, lerr) = await listen;
        Assert.True(lexit == 0, $"listen exit {lexit}: {lerr}\n{lout}");
        // 300 timed round trips after 30 of warm-up (a tenth): the echo side saw 330 bytes.
        Assert.Matches(@"0\.00-\d+\.\d\d sec\s+330 B .* received", lout);
    }

    [Fact]
    public async Task Connect_echo_check_with_hand_overs_against_listen_echo()
    {
        var listen = Task.Run(() => Run("listen", "7", "--echo", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "60"));
        await ListenerStarting();
        string capture = Path.Combine(_dir, "connect.pcapng");
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--link", "tap:mema", "--local", "198.18.0.2/24", "--echo-check",
            "--send-bytes", "4M", "--upload-every", "1M", "--offload", "immediate", "--json", "--timeout", "60", "--capture", capture);
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}");
        using var doc = JsonDocument.Parse(stdout.Trim());
        var j = doc.RootElement;
        Assert.Equal(4L << 20, j.GetProperty("bytes_sent").GetInt64());
        Assert.Equal(4L << 20, j.GetProperty("bytes_received").GetInt64());
        Assert.True(j.GetProperty("echo_check").GetProperty("ok").GetBoolean());
        Assert.Equal(3, j.GetProperty("upload_cycles").GetInt32());
        Assert.True(j.GetProperty("uploads").GetInt32() >= 3, stdout);
        Assert.True(j.GetProperty("offloads").GetInt32() >= 4, stdout);
        Assert.Equal(JsonValueKind.Null, j.GetProperty("error").ValueKind);

        var (lexit, lout, lerr) = await listen;
        Assert.True(lexit == 0, $"listen exit {lexit}: {lerr}\n{lout}");
        Assert.Contains("listening on 198.18.0.1:7 (echo)", lout);
        Assert.Contains("accepted 198.18.0.2:", lout);
        Assert.Matches(@"0\.00-\d+\.\d\d sec\s+4\.0 MiB .* received", lout);

        // The capture is a pcapng of the link that decode reads: ARP first, then the handshake.
        var reader = CaptureReader.Open(capture);
        int frames = 0;
        while (reader.TryRead(out _)) frames++;
        Assert.True(frames > 100, $"only {frames} frames captured");
        var (dexit, dout, _) = Run("decode", "-r", capture, "-c", "4");
        Assert.Equal(0, dexit);
        Assert.Contains("ARP, Request who-has 198.18.0.1", dout);
        Assert.Contains("Flags [S]", dout);
    }

    // Both ends write their frames from a transmit thread (through the capture decorator): the echo is byte-exact across
    // three upload/offload cycles, and the capture reads back whole.
    [Fact]
    public async Task Connect_echo_check_with_hand_overs_and_transmit_threads_on_both_ends()
    {
        var listen = Task.Run(() => Run("listen", "7", "--echo", "--link", "tap:memb", "--local", "198.18.0.1/24", "--transmit-thread", "--timeout", "60"));
        await ListenerStarting();
        string capture = Path.Combine(_dir, "connect-tx.pcapng");
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--link", "tap:mema", "--local", "198.18.0.2/24", "--echo-check",
            "--send-bytes", "4M", "--upload-every", "1M", "--transmit-thread", "--json", "--timeout", "60", "--capture", capture);
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}");
        using var doc = JsonDocument.Parse(stdout.Trim());
        var j = doc.RootElement;
        Assert.Equal(4L << 20, j.GetProperty("bytes_received").GetInt64());
        Assert.True(j.GetProperty("echo_check").GetProperty("ok").GetBoolean());
        Assert.Equal(3, j.GetProperty("upload_cycles").GetInt32());
        var (lexit, lout, lerr) = await listen;
        Assert.True(lexit == 0, $"listen exit {lexit}: {lerr}\n{lout}");
        var reader = CaptureReader.Open(capture);
        int frames = 0;
        while (reader.TryRead(out _)) frames++;
        Assert.True(frames > 3000, $"only {frames} frames captured");   // 4 MiB each way in 1448-byte segments, plus ACKs
    }

    // Both ends run the host stack's completion handlers on their engine threads (--inline-completions): the echo is
    // byte-exact across three upload/offload cycles (uploads and re-offloads issued from handlers on the engine).
    [Fact]
    public async Task Connect_echo_check_with_hand_overs_with_inline_completions_on_both_ends()
    {
        var listen = Task.Run(() => Run("listen", "7", "--echo", "--link", "tap:memb", "--local", "198.18.0.1/24", "--inline-completions", "--timeout", "60"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--link", "tap:mema", "--local", "198.18.0.2/24", "--echo-check",
            "--send-bytes", "4M", "--upload-every", "1M", "--inline-completions", "--json", "--timeout", "60");
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}");
        using var doc = JsonDocument.Parse(stdout.Trim());
        var j = doc.RootElement;
        Assert.Equal(4L << 20, j.GetProperty("bytes_received").GetInt64());
        Assert.True(j.GetProperty("echo_check").GetProperty("ok").GetBoolean());
        Assert.Equal(3, j.GetProperty("upload_cycles").GetInt32());
        Assert.True(j.GetProperty("offloads").GetInt32() >= 4, stdout);
        var (lexit, lout, lerr) = await listen;
        Assert.True(lexit == 0, $"listen exit {lexit}: {lerr}\n{lout}");
    }

    // A ping-pong with both ends inline completes every round trip (the reply issued from the handler on the engine).
    [Fact]
    public async Task Ping_pong_with_inline_completions_on_both_ends()
    {
        var listen = Task.Run(() => Run("listen", "7", "--echo", "--link", "tap:memb", "--local", "198.18.0.1/24", "--inline-completions", "--timeout", "60"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--link", "tap:mema", "--local", "198.18.0.2/24", "--ping-pong", "300",
            "--inline-completions", "--json", "--timeout", "60");
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}");
        using (var doc = JsonDocument.Parse(stdout.Trim()))
            Assert.Equal(300, doc.RootElement.GetProperty("round_trips").GetInt32());
        var (lexit, lout, lerr) = await listen;
        Assert.True(lexit == 0, $"listen exit {lexit}: {lerr}\n{lout}");
        Assert.Matches(@"0\.00-\d+\.\d\d sec\s+330 B .* received", lout);
    }

    [Fact]
    public async Task Listen_source_to_connect_receive_counts_every_byte()
    {
        var listen = Task.Run(() => Run("listen", "19", "--source", "1M", "--link", "tap:memb", "--local", "198.18.0.1/24", "--offload", "after:64K", "--timeout", "60"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:19", "--link", "tap:mema", "--local", "198.18.0.2/24", "--receive", "--upload-every", "256K", "--timeout", "60");
        // Both sides' output in either failure (twice, under load, the receiver got every byte and never saw the end of
        // the stream after its fourth upload: the listener's side says whether it closed).
        var (lexit, lout, lerr) = await listen;
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}\n--- listen exit {lexit}: {lerr}\n{lout}");
        Assert.Matches(@"1\.0 MiB .* received", stdout);
        Assert.Contains("connected 198.18.0.2:", stdout);
        Assert.True(lexit == 0, $"listen exit {lexit}: {lerr}\n{lout}");
        Assert.Matches(@"1\.0 MiB .* sent", lout);
    }

    [Fact]
    public void No_ARP_reply_is_one_clear_line()
    {
        // Nobody runs on memb: the ARP requests go unanswered.
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--link", "tap:mema", "--local", "198.18.0.2/24", "--send-bytes", "1", "--arp-tries", "1");
        Assert.Equal(1, exit);
        Assert.Equal("offloademu connect: no ARP reply from 198.18.0.1 on mema after 1 try\n", stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public void Timeout_ends_the_run_with_exit_1()
    {
        var (exit, _, stderr) = Run("listen", "5001", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "0.3", "--json");
        Assert.Equal(1, exit);
        Assert.Equal("offloademu listen: timed out after 0.3 s\n", stderr);
    }

    [Fact]
    public async Task Echo_check_against_a_peer_that_does_not_echo_fails_with_the_summary_and_one_line()
    {
        // The "echo" is listen --source 1M: half as many bytes come back as were sent.
        var listen = Task.Run(() => Run("listen", "7", "--source", "1M", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "60"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--link", "tap:mema", "--local", "198.18.0.2/24", "--echo-check",
            "--send-bytes", "2M", "--json", "--timeout", "60");
        Assert.Equal(1, exit);
        Assert.Equal("offloademu connect: echo mismatch: sent 2097152 bytes, received 1048576\n", stderr);
        using var doc = JsonDocument.Parse(stdout.Trim());
        Assert.False(doc.RootElement.GetProperty("echo_check").GetProperty("ok").GetBoolean());
        Assert.Equal("echo mismatch: sent 2097152 bytes, received 1048576", doc.RootElement.GetProperty("error").GetString());
        var (lexit, _, lerr) = await listen;
        Assert.True(lexit == 0, lerr);
    }

    [Fact]
    public async Task Listen_count_takes_connections_one_after_the_other()
    {
        var listen = Task.Run(() => Run("listen", "9", "--count", "2", "--json", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "60"));
        await ListenerStarting();
        for (int i = 0; i < 2; i++)
        {
            var (exit, _, stderr) = Run("connect", "198.18.0.1:9", "--link", "tap:mema", "--local", "198.18.0.2/24", "--send-bytes", "200K", "--timeout", "60");
            Assert.True(exit == 0, stderr);
        }
        var (lexit, lout, lerr) = await listen;
        Assert.True(lexit == 0, lerr);
        var lines = lout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.Equal("sink", doc.RootElement.GetProperty("mode").GetString());
            Assert.Equal(200 * 1024, doc.RootElement.GetProperty("bytes_received").GetInt64());
        }
    }

    [Fact]
    public async Task Timeout_during_a_transfer_prints_the_summary_then_one_line()
    {
        var listen = Task.Run(() => Run("listen", "9", "--sink", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "30"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:9", "--link", "tap:mema", "--local", "198.18.0.2/24", "--send-bytes", "100G", "--timeout", "4");
        Assert.Equal(1, exit);
        // 4 s, not 1.5: with the other test classes starting in parallel (CI, 15:10) the connection was once not yet up
        // after 1.5 s, and a timeout before any transfer rightly prints the reason alone.
        Assert.Matches(@"^offloademu connect: timed out after 4 s \(\d+ bytes sent, 0 received\)\n$", WithoutTimeoutState(stderr));
        Assert.Contains("bytes sent ", stdout);
        await listen;   // the sink sees the reset and ends (its exit status is not the point here)
    }

    [Fact]
    public async Task Send_file_with_echo_check_compares_the_hashes()
    {
        string file = Path.Combine(_dir, "input.bin");
        var data = new byte[300_001];
        new Random(3).NextBytes(data);
        File.WriteAllBytes(file, data);
        var listen = Task.Run(() => Run("listen", "7", "--echo", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "60"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--link", "tap:mema", "--local", "198.18.0.2/24", "--echo-check",
            "--send", file, "--offload", "after:100K", "--json", "--timeout", "60");
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}");
        using var doc = JsonDocument.Parse(stdout.Trim());
        var check = doc.RootElement.GetProperty("echo_check");
        Assert.True(check.GetProperty("ok").GetBoolean());
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data)), check.GetProperty("sha256_sent").GetString());
        Assert.Equal(300_001, doc.RootElement.GetProperty("bytes_received").GetInt64());
        Assert.Equal("after:102400", doc.RootElement.GetProperty("offload").GetString());
        var (lexit, _, lerr) = await listen;
        Assert.True(lexit == 0, lerr);
    }

    // --parallel 4 against listen --count 4 (which serves one connection after the other: the later streams wait in its
    // backlog, their windows full, until it gets to them): the total of --send-bytes is split 3+3+3+2 bytes over 1 MiB,
    // every stream's bytes arrive, and the JSON's sum is the streams' sum.
    [Fact]
    public async Task Parallel_streams_split_the_bytes_and_sum_them()
    {
        var listen = Task.Run(() => Run("listen", "9", "--count", "4", "--json", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "60"));
        await ListenerStarting();
        const long total = (1 << 20) + 3;
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:9", "--link", "tap:mema", "--local", "198.18.0.2/24", "--send-bytes", total.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-P", "4", "--json", "--timeout", "60");
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}");
        using var doc = JsonDocument.Parse(stdout.Trim());
        var j = doc.RootElement;
        Assert.Equal(4, j.GetProperty("parallel").GetInt32());
        var streams = j.GetProperty("streams").EnumerateArray().ToList();
        Assert.Equal(4, streams.Count);
        long shareOfFirst = total / 4 + 1, shareOfLast = total / 4;
        long sent = 0, offloads = 0;
        var ports = new HashSet<string>();
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(i + 1, streams[i].GetProperty("stream").GetInt32());
            Assert.Equal(i < 3 ? shareOfFirst : shareOfLast, streams[i].GetProperty("bytes_sent").GetInt64());
            Assert.Equal(JsonValueKind.Null, streams[i].GetProperty("retransmits_target").ValueKind);
            Assert.Equal(JsonValueKind.Null, streams[i].GetProperty("error").ValueKind);
            sent += streams[i].GetProperty("bytes_sent").GetInt64();
            offloads += streams[i].GetProperty("offloads").GetInt32();
            ports.Add(streams[i].GetProperty("local").GetString()!);
        }
        Assert.Equal(4, ports.Count);
        var sum = j.GetProperty("sum");
        Assert.Equal(total, sent);
        Assert.Equal(total, sum.GetProperty("bytes_sent").GetInt64());
        Assert.Equal(offloads, sum.GetProperty("offloads").GetInt32());
        Assert.True(offloads >= 4, stdout);
        Assert.Equal(0, sum.GetProperty("streams_failed").GetInt32());
        Assert.Equal(JsonValueKind.Null, j.GetProperty("error").ValueKind);
        var (lexit, lout, lerr) = await listen;
        Assert.True(lexit == 0, $"listen exit {lexit}: {lerr}\n{lout}");
        long received = 0;
        foreach (var line in lout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var l = JsonDocument.Parse(line);
            received += l.RootElement.GetProperty("bytes_received").GetInt64();
        }
        Assert.Equal(total, received);
    }

    // Through a daemon's control socket: the three streams are one host session's, on one address.
    [Fact]
    public async Task Parallel_through_a_daemon_control_socket_echo_checks_every_stream()
    {
        using var target = new OffloadEmu.Target.OffloadTarget(new KeptLink(_a));
        string socket = Path.Combine(_dir, "control.sock");
        await using var server = new OffloadEmu.Control.Server.ControlServer(target, new OffloadEmu.Control.Server.ControlServerOptions { Path = socket });
        server.Start();
        target.Start();
        var listen = Task.Run(() => Run("listen", "7", "--echo", "--count", "3", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "60"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:7", "--daemon", socket, "--local", "198.18.0.2/24", "--echo-check",
            "--send-bytes", "3M", "-P", "3", "--json", "--timeout", "60");
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}");
        using var doc = JsonDocument.Parse(stdout.Trim());
        var j = doc.RootElement;
        foreach (var st in j.GetProperty("streams").EnumerateArray())
        {
            Assert.Equal(1L << 20, st.GetProperty("bytes_received").GetInt64());
            Assert.True(st.GetProperty("echo_check").GetProperty("ok").GetBoolean());
            Assert.StartsWith("198.18.0.2:", st.GetProperty("local").GetString());
        }
        Assert.Equal(3L << 20, j.GetProperty("sum").GetProperty("bytes_received").GetInt64());
        Assert.True(j.GetProperty("sum").GetProperty("offloads").GetInt32() >= 3, stdout);
        var (lexit, lout, lerr) = await listen;
        Assert.True(lexit == 0, $"listen exit {lexit}: {lerr}\n{lout}");
    }

    // A port nobody listens on: the peer's RST to our SYN is one line naming the refusal (was "IOException: The peer reset
    // the connection.").
    [Fact]
    public async Task Connect_refused_is_one_clear_line()
    {
        var listen = Task.Run(() => Run("listen", "9", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "5"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:8", "--link", "tap:mema", "--local", "198.18.0.2/24", "--send-bytes", "1M", "--timeout", "30");
        Assert.Equal(1, exit);
        Assert.Equal("offloademu connect: connection refused by 198.18.0.1:8\n", stderr);
        Assert.Equal("", stdout);
        await listen;
    }

    // OFFLOADEMU_TIMEOUT_STATE=1 (set for this assembly: TestEnvironment): after the error line, each unfinished
    // connection's host-side line and the target's.
    [Fact]
    public async Task Timeout_state_lines_say_where_each_unfinished_connection_stands()
    {
        var listen = Task.Run(() => Run("listen", "9", "--sink", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "30"));
        await ListenerStarting();
        var result = Run("connect", "198.18.0.1:9", "--link", "tap:mema", "--local", "198.18.0.2/24", "--send-bytes", "100G",
            "--offload", "immediate", "--timeout", "4");
        Assert.Equal(1, result.Exit);
        var lines = result.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 5, result.Err);
        Assert.Matches(@"^offloademu connect: timed out after 4 s \(\d+ bytes sent, 0 received\)$", lines[0]);
        Assert.Matches(@"^  at the timeout: host stack frames dropped \d+, target retrieves \d+ \(last \w+\), uploads 0$", lines[1]);
        Assert.Matches(@"^  at the timeout: target frames dropped \d+; link frames in [1-9]\d*, out [1-9]\d*, dropped \d+$", lines[2]);
        Assert.Matches(@"^  at the timeout, 198\.18\.0\.2:\d+ -> 198\.18\.0\.1:9: host .* Offloaded .* post=(True|False) .* offloads=1 uploads=0 ", lines[3]);
        Assert.Matches(@"^  at the timeout, 198\.18\.0\.2:\d+ -> 198\.18\.0\.1:9: target Established snd_una=\d+ .* receive_posts=\d+ indication_outstanding=False ", lines[4]);
        await listen;
    }

    // --timeout in the middle of a parallel transfer: every stream still running is aborted and says so; the summary is out.
    [Fact]
    public async Task Parallel_timeout_aborts_every_stream_with_its_line()
    {
        var listen = Task.Run(() => Run("listen", "9", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "30"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:9", "--link", "tap:mema", "--local", "198.18.0.2/24", "--send-bytes", "100G",
            "-P", "2", "--json", "--timeout", "4");
        Assert.Equal(1, exit);
        var lines = WithoutTimeoutState(stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^offloademu connect: stream 1: timed out after 4 s \(\d+ bytes sent, 0 received\)$", lines[0]);
        Assert.Matches(@"^offloademu connect: stream 2: timed out after 4 s \(\d+ bytes sent, 0 received\)$", lines[1]);
        using var doc = JsonDocument.Parse(stdout.Trim());
        Assert.Equal("2 of 2 streams failed", doc.RootElement.GetProperty("error").GetString());
        await listen;
    }

    // Streams whose connect is refused are reported in connect_errors and by one line each; exit 1.
    [Fact]
    public async Task Parallel_streams_refused_at_connect_are_each_named()
    {
        var listen = Task.Run(() => Run("listen", "9", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "5"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:8", "--link", "tap:mema", "--local", "198.18.0.2/24", "--send-bytes", "1M",
            "-P", "2", "--json", "--timeout", "30");
        Assert.Equal(1, exit);
        Assert.Equal("offloademu connect: stream 1: connection refused by 198.18.0.1:8\noffloademu connect: stream 2: connection refused by 198.18.0.1:8\n", stderr);
        using var doc = JsonDocument.Parse(stdout.Trim());
        var j = doc.RootElement;
        Assert.Equal(0, j.GetProperty("streams").GetArrayLength());
        Assert.Equal(2, j.GetProperty("connect_errors").GetArrayLength());
        Assert.Equal(2, j.GetProperty("connect_errors")[1].GetProperty("stream").GetInt32());
        Assert.Equal("2 of 2 streams failed", j.GetProperty("error").GetString());
        await listen;
    }

    // The text output: a block per stream tagged [ n], then the [SUM] block; receiving the pattern from listen --source
    // with --check-pattern checks every stream's bytes.
    [Fact]
    public async Task Parallel_receive_checks_the_pattern_per_stream_and_prints_a_sum()
    {
        var listen = Task.Run(() => Run("listen", "19", "--source", "512K", "--count", "3", "--link", "tap:memb", "--local", "198.18.0.1/24", "--timeout", "60"));
        await ListenerStarting();
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:19", "--link", "tap:mema", "--local", "198.18.0.2/24", "--receive", "--check-pattern",
            "--parallel", "3", "--timeout", "60");
        Assert.True(exit == 0, $"connect exit {exit}: {stderr}\n{stdout}");
        for (int i = 1; i <= 3; i++)
        {
            Assert.Contains($"[ {i}] connected 198.18.0.2:", stdout);
            Assert.Contains($"[ {i}] connect 198.18.0.2:", stdout);
        }
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(stdout, "pattern check: OK, SHA-256 ").Count);
        Assert.Contains("[SUM] connect 3 streams -> 198.18.0.1:19 on tap:mema", stdout);
        Assert.Contains("bytes sent 0, received 1572864; 3 streams, 3 ok, 0 failed", stdout);
        var (lexit, _, lerr) = await listen;
        Assert.True(lexit == 0, lerr);
    }

    // One stream is reset by its peer in the middle: that stream is named in the one error line, exit 1, and the other
    // streams' bytes are whole. The peer is a host stack of the test's own on memb: it sinks three connections and
    // aborts the second one it accepted after 256 KiB.
    [Fact]
    public async Task Parallel_stream_that_fails_is_named_and_the_others_stay_exact()
    {
        using var target = new OffloadEmu.Target.OffloadTarget(new KeptLink(_b));
        using var stack = new OffloadEmu.HostStack.HostStack(target, new OffloadEmu.HostStack.HostStackOptions
        {
            Address = OffloadEmu.Wire.Ipv4Address.Parse("198.18.0.1"),
            PrefixLength = 24,
        });
        target.Start();
        stack.Start();
        var listener = stack.Listen(9);
        var received = new Dictionary<int, long>();
        int abortedPort = 0;
        var server = Task.Run(async () =>
        {
            var sinks = new List<Task>();
            for (int i = 0; i < 3; i++)
            {
                var socket = await listener.AcceptAsync();
                bool abort = i == 1;
                if (abort) abortedPort = socket.RemotePort;
                sinks.Add(Task.Run(async () =>
                {
                    var buffer = new byte[64 * 1024];
                    long n = 0;
                    int m;
                    while ((m = await socket.ReadAsync(buffer)) > 0)
                    {
                        n += m;
                        if (abort && n >= 256 * 1024)
                        {
                            socket.Abort();
                            break;
                        }
                    }
                    lock (received) received[socket.RemotePort] = n;
                    if (!abort) await socket.CloseAsync();
                }));
            }
            await Task.WhenAll(sinks);
        });
        var (exit, stdout, stderr) = Run("connect", "198.18.0.1:9", "--link", "tap:mema", "--local", "198.18.0.2/24", "--send-bytes", "6M",
            "-P", "3", "--json", "--timeout", "60");
        await server.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(exit == 1, $"exit {exit}: {stderr}\n{stdout}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, stderr);
        using var doc = JsonDocument.Parse(stdout.Trim());
        var j = doc.RootElement;
        Assert.Equal("1 of 3 streams failed", j.GetProperty("error").GetString());
        Assert.Equal(1, j.GetProperty("sum").GetProperty("streams_failed").GetInt32());
        int ok = 0;
        foreach (var st in j.GetProperty("streams").EnumerateArray())
        {
            int port = int.Parse(st.GetProperty("local").GetString()!.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
            if (port == abortedPort)
            {
                Assert.StartsWith($"offloademu connect: stream {st.GetProperty("stream").GetInt32()}: connection to 198.18.0.1:9 reset", lines[0]);
                Assert.Contains("reset", st.GetProperty("error").GetString());
                continue;
            }
            Assert.Equal(JsonValueKind.Null, st.GetProperty("error").ValueKind);
            Assert.Equal(2L << 20, st.GetProperty("bytes_sent").GetInt64());
            Assert.Equal(2L << 20, received[port]);
            ok++;
        }
        Assert.Equal(2, ok);
    }
}
