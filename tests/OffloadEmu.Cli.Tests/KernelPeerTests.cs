using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace OffloadEmu.Cli.Tests;

/// <summary>
/// offloademu as a real process against the Linux kernel. As in the daemon's and the target's end-to-end tests, our
/// side stays in the root namespace: the test makes a persistent TAP there, offloademu attaches it by name, and once
/// it holds the descriptor the TAP is moved into our own namespace oe-c&lt;random&gt;&lt;pid&gt; (the descriptor follows
/// it), where the kernel gets 198.18.24x.1/24 and runs socat. Addresses only from 198.18.0.0/15, no route out; the
/// namespace, the TAP and every process (by PID) are removed at the end.
/// </summary>
[Trait("Category", "Privileged")]
public sealed class KernelPeerTests : IDisposable
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromSeconds(90);
    private readonly ITestOutputHelper _output;
    private readonly string _tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
    private readonly string _ns;
    private readonly string _tap;
    private readonly List<ChildProcess> _processes = [];
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"oe-cli-kernel-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public KernelPeerTests(ITestOutputHelper output)
    {
        _output = output;
        _ns = $"oe-c{_tag}{Environment.ProcessId}";
        _tap = $"oec{_tag}{Environment.ProcessId % 1_000_000}";
    }

    public void Dispose()
    {
        foreach (var p in _processes) p.Dispose();
        RemoveNetwork();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Only what this test made, by its exact names.</summary>
    private void RemoveNetwork()
    {
        Cmd.TryRun("ip", "-n", _ns, "link", "del", _tap);
        Cmd.TryRun("ip", "link", "del", _tap);
        Cmd.TryRun("ip", "netns", "del", _ns);
    }

    [Fact]
    public void Connect_echo_check_16_MiB_with_an_upload_every_4_MiB_against_the_kernel_echo_server()
    {
        if (!Privileged.ShouldRun()) return;
        MakeNamespaceAndTap();
        // The kernel's echo server (one connection), as scripts/lab.sh runs it (-b 4096 against its PIPE deadlock).
        var echo = Own(ChildProcess.Start("ip", "netns", "exec", _ns, "socat", "-b", "4096", "TCP-LISTEN:7,reuseaddr", "PIPE"));
        WaitFor(() => Cmd.TryRun("ip", "netns", "exec", _ns, "ss", "-Hltn", "sport = :7").Stdout.Contains(":7", StringComparison.Ordinal),
            "socat listening on port 7", () => echo.Stderr);

        var cli = Own(ChildProcess.StartOffloademu("connect", "198.18.247.1:7", "--link", $"tap:{_tap}", "--local", "198.18.247.2/24",
            "--echo-check", "--send-bytes", "16777216", "--upload-every", "4194304", "--offload", "immediate",
            "--json", "--timeout", "60", "--arp-tries", "10"));
        HandTapToKernel(cli, "198.18.247.1/24");

        int? exit = cli.WaitForExit(RunLimit);
        _output.WriteLine($"stdout:\n{cli.Stdout}\nstderr:\n{cli.Stderr}");
        Assert.True(exit == 0, $"offloademu connect exit {exit?.ToString() ?? "(still running)"}: {cli.Stderr}");
        Assert.Equal("", cli.Stderr);
        using var doc = JsonDocument.Parse(cli.Stdout.Trim());
        var j = doc.RootElement;
        Assert.Equal(16777216, j.GetProperty("bytes_sent").GetInt64());
        Assert.Equal(16777216, j.GetProperty("bytes_received").GetInt64());
        var check = j.GetProperty("echo_check");
        Assert.True(check.GetProperty("ok").GetBoolean());
        Assert.Equal(check.GetProperty("sha256_sent").GetString(), check.GetProperty("sha256_received").GetString());
        Assert.True(j.GetProperty("uploads").GetInt32() >= 3, $"uploads {j.GetProperty("uploads")}");
        Assert.True(j.GetProperty("offloads").GetInt32() >= 4, $"offloads {j.GetProperty("offloads")}");
        Assert.Equal(3, j.GetProperty("upload_cycles").GetInt32());
        Assert.True(j.GetProperty("lived_seconds").GetProperty("offloaded").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, j.GetProperty("error").ValueKind);
    }

    [Fact]
    public void Listen_sink_takes_4_MiB_from_a_kernel_client()
    {
        if (!Privileged.ShouldRun()) return;
        Directory.CreateDirectory(_dir);
        string input = Path.Combine(_dir, "input.bin");
        var data = new byte[4 << 20];
        new Random(6).NextBytes(data);
        File.WriteAllBytes(input, data);
        MakeNamespaceAndTap();

        var cli = Own(ChildProcess.StartOffloademu("listen", "5001", "--sink", "--link", $"tap:{_tap}", "--local", "198.18.248.2/24",
            "--offload", "immediate", "--timeout", "60"));
        HandTapToKernel(cli, "198.18.248.1/24");
        WaitFor(() => cli.Stdout.Contains("listening on 198.18.248.2:5001 (sink)", StringComparison.Ordinal), "the listening line", () => cli.Stderr);

        var client = Cmd.TryRun("ip", ["netns", "exec", _ns, "socat", "-u", $"OPEN:{input},rdonly", "TCP:198.18.248.2:5001,connect-timeout=20"], null, 60_000);
        Assert.True(client.Code == 0, $"socat client exit {client.Code}: {client.Stderr}");

        int? exit = cli.WaitForExit(RunLimit);
        _output.WriteLine($"stdout:\n{cli.Stdout}\nstderr:\n{cli.Stderr}");
        Assert.True(exit == 0, $"offloademu listen exit {exit?.ToString() ?? "(still running)"}: {cli.Stderr}");
        Assert.Equal("", cli.Stderr);
        Assert.Contains("accepted 198.18.248.1:", cli.Stdout);
        Assert.Contains($"bytes sent 0, received {4 << 20}", cli.Stdout);
        var counts = Regex.Match(cli.Stdout, @"offloads (\d+), uploads (\d+)");
        Assert.True(counts.Success, cli.Stdout);
        Assert.True(int.Parse(counts.Groups[1].Value) >= 1, "the connection was never offloaded");
        Assert.Matches(@"0\.00-\d+\.\d\d sec\s+4\.0 MiB\s+\S+ \S+/sec\s+received", cli.Stdout);
    }

    // --parallel 4 sending: 32 MiB + 2 bytes split over four connections to a kernel sink (socat, a child per connection
    // writing what it gets to a file named after the client port); every stream's file is exactly its share of the pattern
    // (SHA-256), and the JSON's sum is the streams' sum.
    [Fact]
    public void Connect_parallel_4_sends_each_stream_its_share_to_a_kernel_sink()
    {
        if (!Privileged.ShouldRun()) return;
        Directory.CreateDirectory(_dir);
        MakeNamespaceAndTap();
        var sink = Own(ChildProcess.Start("ip", "netns", "exec", _ns, "socat", "TCP-LISTEN:5001,reuseaddr,fork", $"SYSTEM:cat > {_dir}/from.$SOCAT_PEERPORT"));
        WaitFor(() => Cmd.TryRun("ip", "netns", "exec", _ns, "ss", "-Hltn", "sport = :5001").Stdout.Contains(":5001", StringComparison.Ordinal),
            "socat listening on port 5001", () => sink.Stderr);
        const long total = (32L << 20) + 2;
        var cli = Own(ChildProcess.StartOffloademu("connect", "198.18.247.1:5001", "--link", $"tap:{_tap}", "--local", "198.18.247.2/24",
            "--send-bytes", total.ToString(System.Globalization.CultureInfo.InvariantCulture), "--parallel", "4", "--offload", "immediate",
            "--json", "--timeout", "60", "--arp-tries", "10"));
        HandTapToKernel(cli, "198.18.247.1/24");
        int? exit = cli.WaitForExit(RunLimit);
        _output.WriteLine($"stdout:\n{cli.Stdout}\nstderr:\n{cli.Stderr}");
        Assert.True(exit == 0, $"offloademu connect exit {exit?.ToString() ?? "(still running)"}: {cli.Stderr}");
        Assert.Equal("", cli.Stderr);
        using var doc = JsonDocument.Parse(cli.Stdout.Trim());
        var j = doc.RootElement;
        var streams = j.GetProperty("streams").EnumerateArray().ToList();
        Assert.Equal(4, streams.Count);
        long sent = 0;
        int offloads = 0;
        foreach (var st in streams)
        {
            int n = st.GetProperty("stream").GetInt32();
            long share = total / 4 + (n <= total % 4 ? 1 : 0);
            Assert.Equal(share, st.GetProperty("bytes_sent").GetInt64());
            Assert.True(st.GetProperty("offloads").GetInt32() >= 1, $"stream {n} never offloaded");
            string port = st.GetProperty("local").GetString()!.Split(':')[1];
            string file = Path.Combine(_dir, "from." + port);
            // socat's child finishes its file once it has our FIN: give it a moment.
            WaitFor(() => File.Exists(file) && new FileInfo(file).Length >= share, $"stream {n}'s {share} bytes in {file}", () => sink.Stderr);
            Assert.Equal(share, new FileInfo(file).Length);
            var expected = new byte[share];
            new OffloadEmu.Cli.Session.Pattern().Fill(expected);
            Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(expected)),
                Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file))));
            sent += share;
            offloads += st.GetProperty("offloads").GetInt32();
        }
        var sum = j.GetProperty("sum");
        Assert.Equal(total, sent);
        Assert.Equal(total, sum.GetProperty("bytes_sent").GetInt64());
        Assert.Equal(offloads, sum.GetProperty("offloads").GetInt32());
        Assert.Equal(0, sum.GetProperty("streams_failed").GetInt32());
        Assert.Equal(sum.GetProperty("retransmits_target").GetUInt64() + sum.GetProperty("retransmits_host").GetUInt64(), sum.GetProperty("retransmits").GetUInt64());
        Assert.Equal(JsonValueKind.Null, j.GetProperty("error").ValueKind);
    }

    // --parallel 4 receiving: a kernel source (socat, a child per connection) sends each connection 8 MiB of the pattern;
    // --check-pattern checks every byte of every stream, and each stream's SHA-256 is the file's.
    [Fact]
    public void Connect_parallel_4_receives_and_checks_every_stream_from_a_kernel_source()
    {
        if (!Privileged.ShouldRun()) return;
        Directory.CreateDirectory(_dir);
        const int share = 8 << 20;
        var data = new byte[share];
        new OffloadEmu.Cli.Session.Pattern().Fill(data);
        string input = Path.Combine(_dir, "pattern.bin");
        File.WriteAllBytes(input, data);
        string hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data));
        MakeNamespaceAndTap();
        var source = Own(ChildProcess.Start("ip", "netns", "exec", _ns, "socat", "TCP-LISTEN:5002,reuseaddr,fork", $"OPEN:{input},rdonly"));
        WaitFor(() => Cmd.TryRun("ip", "netns", "exec", _ns, "ss", "-Hltn", "sport = :5002").Stdout.Contains(":5002", StringComparison.Ordinal),
            "socat listening on port 5002", () => source.Stderr);
        var cli = Own(ChildProcess.StartOffloademu("connect", "198.18.248.1:5002", "--link", $"tap:{_tap}", "--local", "198.18.248.2/24",
            "--receive", "--check-pattern", "-P", "4", "--offload", "immediate", "--json", "--timeout", "60", "--arp-tries", "10"));
        HandTapToKernel(cli, "198.18.248.1/24");
        int? exit = cli.WaitForExit(RunLimit);
        _output.WriteLine($"stdout:\n{cli.Stdout}\nstderr:\n{cli.Stderr}");
        Assert.True(exit == 0, $"offloademu connect exit {exit?.ToString() ?? "(still running)"}: {cli.Stderr}");
        Assert.Equal("", cli.Stderr);
        using var doc = JsonDocument.Parse(cli.Stdout.Trim());
        var j = doc.RootElement;
        var streams = j.GetProperty("streams").EnumerateArray().ToList();
        Assert.Equal(4, streams.Count);
        long received = 0;
        int offloads = 0, uploads = 0;
        foreach (var st in streams)
        {
            Assert.Equal(share, st.GetProperty("bytes_received").GetInt64());
            var check = st.GetProperty("pattern_check");
            Assert.True(check.GetProperty("ok").GetBoolean());
            Assert.Equal(hash, check.GetProperty("sha256_received").GetString());
            Assert.True(st.GetProperty("offloads").GetInt32() >= 1, "a stream never offloaded");
            received += st.GetProperty("bytes_received").GetInt64();
            offloads += st.GetProperty("offloads").GetInt32();
            uploads += st.GetProperty("uploads").GetInt32();
        }
        var sum = j.GetProperty("sum");
        Assert.Equal(4L * share, received);
        Assert.Equal(received, sum.GetProperty("bytes_received").GetInt64());
        Assert.Equal(offloads, sum.GetProperty("offloads").GetInt32());
        Assert.Equal(uploads, sum.GetProperty("uploads").GetInt32());
        Assert.Equal(JsonValueKind.Null, j.GetProperty("error").ValueKind);
    }

    // --parallel 4 --queues 2 on a multi_queue TAP: two engine loops, the streams spread over them by their 4-tuple,
    // every stream's echo from the kernel (socat, a child per connection) checked byte for byte.
    [Fact]
    public void Connect_parallel_4_over_two_link_queues_echo_checks_every_stream()
    {
        if (!Privileged.ShouldRun()) return;
        MakeNamespaceAndTap(multiQueue: true);
        var echo = Own(ChildProcess.Start("ip", "netns", "exec", _ns, "socat", "-b", "4096", "TCP-LISTEN:7,reuseaddr,fork", "PIPE"));
        WaitFor(() => Cmd.TryRun("ip", "netns", "exec", _ns, "ss", "-Hltn", "sport = :7").Stdout.Contains(":7", StringComparison.Ordinal),
            "socat listening on port 7", () => echo.Stderr);
        var cli = Own(ChildProcess.StartOffloademu("connect", "198.18.247.1:7", "--link", $"tap:{_tap}", "--local", "198.18.247.2/24",
            "--echo-check", "--send-bytes", "16M", "-P", "4", "--queues", "2", "--offload", "immediate", "--timeout", "60", "--arp-tries", "10"));
        HandTapToKernel(cli, "198.18.247.1/24", queues: 2);
        int? exit = cli.WaitForExit(RunLimit);
        _output.WriteLine($"stdout:\n{cli.Stdout}\nstderr:\n{cli.Stderr}");
        Assert.True(exit == 0, $"offloademu connect exit {exit?.ToString() ?? "(still running)"}: {cli.Stderr}");
        Assert.Equal("", cli.Stderr);
        Assert.Contains(", 2 queues)", cli.Stdout);
        Assert.Equal(4, Regex.Matches(cli.Stdout, "echo check: OK, SHA-256 ").Count);
        Assert.Contains($"bytes sent {16 << 20}, received {16 << 20}; 4 streams, 4 ok, 0 failed", cli.Stdout);
    }

    // One queue (no --queues) of a TAP made multi_queue: attached as one of its queues (a plain attach is refused with
    // EINVAL, which was reported as "not a TAP").
    [Fact]
    public void Connect_attaches_one_queue_of_a_multi_queue_tap()
    {
        if (!Privileged.ShouldRun()) return;
        MakeNamespaceAndTap(multiQueue: true);
        var echo = Own(ChildProcess.Start("ip", "netns", "exec", _ns, "socat", "-b", "4096", "TCP-LISTEN:7,reuseaddr", "PIPE"));
        WaitFor(() => Cmd.TryRun("ip", "netns", "exec", _ns, "ss", "-Hltn", "sport = :7").Stdout.Contains(":7", StringComparison.Ordinal),
            "socat listening on port 7", () => echo.Stderr);
        var cli = Own(ChildProcess.StartOffloademu("connect", "198.18.248.1:7", "--link", $"tap:{_tap}", "--local", "198.18.248.2/24",
            "--echo-check", "--send-bytes", "1M", "--timeout", "60", "--arp-tries", "10"));
        HandTapToKernel(cli, "198.18.248.1/24");
        int? exit = cli.WaitForExit(RunLimit);
        _output.WriteLine($"stdout:\n{cli.Stdout}\nstderr:\n{cli.Stderr}");
        Assert.True(exit == 0, $"offloademu connect exit {exit?.ToString() ?? "(still running)"}: {cli.Stderr}");
        Assert.Contains("echo check: OK", cli.Stdout);
    }

    private ChildProcess Own(ChildProcess p)
    {
        _processes.Add(p);
        return p;
    }

    private void MakeNamespaceAndTap(bool multiQueue = false)
    {
        RemoveNetwork();   // leftovers of a crashed run with these exact names only
        if (multiQueue) Cmd.Run("ip", "tuntap", "add", "dev", _tap, "mode", "tap", "multi_queue");
        else Cmd.Run("ip", "tuntap", "add", "dev", _tap, "mode", "tap");
        Cmd.Run("ip", "netns", "add", _ns);
        Cmd.Run("ip", "netns", "exec", _ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
        Cmd.Run("ip", "-n", _ns, "link", "set", "lo", "up");
        Cmd.TryRun("ip", "netns", "exec", _ns, "sysctl", "-qw", "net.ipv4.tcp_congestion_control=cubic");
    }

    /// <summary>Once offloademu holds the TAP (its fdinfo names it), moves the TAP into the namespace and gives the
    /// kernel its address there.</summary>
    // queues: how many descriptors offloademu attaches (--queues N). The TAP moves only once it holds all of them: moved
    // after the first, the later queues were once attached by name to a new TAP in offloademu's namespace, and the
    // streams of the second engine loop went nowhere (CI, session 10; offloademu now refuses such a queue).
    private void HandTapToKernel(ChildProcess cli, string kernelCidr, int queues = 1)
    {
        WaitFor(() => HoldsTap(cli.Id) >= queues, $"offloademu (pid {cli.Id}) attaching {queues} queue(s) of TAP {_tap}", () => cli.Stderr);
        Cmd.Run("ip", "link", "set", _tap, "netns", _ns);
        Cmd.Run("ip", "netns", "exec", _ns, "sysctl", "-qw", $"net.ipv6.conf.{_tap}.disable_ipv6=1");
        Cmd.Run("ip", "-n", _ns, "addr", "add", kernelCidr, "dev", _tap);
        Cmd.Run("ip", "-n", _ns, "link", "set", _tap, "up");
    }

    private int HoldsTap(int pid)
    {
        int held = 0;
        try
        {
            foreach (var f in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
            {
                try
                {
                    if (File.ReadAllText(f).Contains($"iff:\t{_tap}\n", StringComparison.Ordinal)) held++;
                }
                catch (IOException)
                {
                    // the descriptor closed meanwhile
                }
            }
        }
        catch (DirectoryNotFoundException)
        {
            // the process is gone
        }
        return held;
    }

    private static void WaitFor(Func<bool> condition, string what, Func<string> diagnostics)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for {what}: {diagnostics()}");
            Thread.Sleep(20);
        }
    }
}
