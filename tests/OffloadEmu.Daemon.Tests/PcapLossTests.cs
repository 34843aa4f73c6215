using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// Issue 8, device faults: the pcap device "unplugged". offloademud runs with <c>Link:Kind=pcap</c> on the root end of a
/// veth pair whose other end is in a namespace of this test's own (oe-pl&lt;tag&gt;&lt;pid&gt;, 198.18.245.0/24, IPv6 off,
/// no route out) with socat's echo; the pair is deleted in the middle of an offloaded transfer, then created again.
/// The daemon survives, fails the connection as a hardware failure, opens the interface again once it is back, and a
/// new connection transfers byte-exact. Everything is removed by its exact name at the end.
/// </summary>
[Trait("Category", "Privileged")]
public sealed class PcapLossTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly List<Process> _processes = [];
    private readonly TempDirectory _dir = new();
    private readonly string _ns;
    private readonly string _root;
    private readonly string _peer;
    private NotifySocket? _notify;

    public PcapLossTests(ITestOutputHelper output)
    {
        _output = output;
        string tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
        _ns = $"oe-pl{tag}{Environment.ProcessId}";
        _root = $"oepl{Environment.ProcessId % 1_000_000}a";
        _peer = $"oepl{Environment.ProcessId % 1_000_000}b";
    }

    private string Socket => _dir.File("control.sock");

    private void MakeVeth()
    {
        Cmd.Run("ip", "link", "add", _root, "type", "veth", "peer", "name", _peer, "netns", _ns);
        Cmd.Run("sysctl", "-qw", $"net.ipv6.conf.{_root}.disable_ipv6=1");
        Cmd.Run("sysctl", "-qw", $"net.ipv4.conf.{_root}.forwarding=0");
        Cmd.TryRun("ethtool", "-K", _root, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
        Cmd.Run("ip", "link", "set", _root, "up");
        Cmd.Run("ip", "netns", "exec", _ns, "sysctl", "-qw", $"net.ipv6.conf.{_peer}.disable_ipv6=1");
        Cmd.TryRun("ip", "netns", "exec", _ns, "ethtool", "-K", _peer, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
        Cmd.Run("ip", "-n", _ns, "addr", "add", "198.18.245.1/24", "dev", _peer);
        Cmd.Run("ip", "-n", _ns, "link", "set", _peer, "up");
    }

    private Process Start(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        _processes.Add(p);
        return p;
    }

    private Process Connect(int host, string bytes)
        => Start(DaemonTapLab.Dotnet, DaemonTapLab.Cli, "connect", "198.18.245.1:7", "--daemon", Socket, "--local", $"198.18.245.{host}/24", "--echo-check",
            "--send-bytes", bytes, "--offload", "immediate", "--json", "--arp-tries", "10", "--timeout", "60");

    private string Status()
    {
        var run = Cmd.TryRun(DaemonTapLab.Dotnet, [DaemonTapLab.Cli, "status", "--daemon", Socket, "--json"], environment: null, timeoutMilliseconds: 20_000);
        if (run.Code != 0) return "(no answer)";
        using var doc = JsonDocument.Parse(run.Stdout.Trim());
        return doc.RootElement.GetProperty("status").GetString() ?? "";
    }

    [Fact]
    public void The_pcap_interface_deleted_under_a_transfer_fails_the_connection_and_a_recreated_one_serves_a_new_connection()
    {
        if (!Privileged.ShouldRun()) return;
        if (!Cmd.Exists("socat")) Assert.Fail("this test needs socat (scripts/test.sh installs it)");

        Cmd.Run("ip", "netns", "add", _ns);
        Cmd.Run("ip", "netns", "exec", _ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
        Cmd.Run("ip", "-n", _ns, "link", "set", "lo", "up");
        MakeVeth();
        Start("ip", "netns", "exec", _ns, "socat", "-b", "4096", "TCP-LISTEN:7,reuseaddr,fork", "PIPE");
        DaemonTapLab.WaitFor(() => Cmd.TryRun("ip", "netns", "exec", _ns, "ss", "-Hltn", "sport = :7").Stdout.Contains(":7", StringComparison.Ordinal), "socat listening");

        string config = _dir.Write("emulator.json", $$"""
            {
              "Link": { "Kind": "pcap", "Interface": "{{_root}}", "MacAddress": "02:00:00:18:f5:02", "ReattachDelayMilliseconds": 100, "ReattachMaxDelayMilliseconds": 400 },
              "Capture": { "File": "" },
              "Control": { "Endpoint": "{{Socket}}" },
              "Logging": { "Serilog": { "MinimumLevel": { "Default": "Information" }, "WriteTo": [ { "Name": "Console" } ] } }
            }
            """);
        _notify = new NotifySocket(_dir.File("notify.sock"));
        using var daemon = DaemonProcess.Start(_dir.Path, ["--config", config], new Dictionary<string, string> { ["NOTIFY_SOCKET"] = _notify.Address });
        Assert.Equal("READY=1", _notify.Receive());

        var first = Connect(2, "4G");
        DaemonTapLab.WaitFor(() => Status() == "SUCCESS" && Cmd.TryRun("ip", "netns", "exec", _ns, "ss", "-Htn", "state", "established", "sport = :7").Stdout.Length > 0,
            "the first connection established", 30);
        Thread.Sleep(1000);

        Cmd.Run("ip", "link", "del", _root);   // both ends go
        Assert.True(first.WaitForExit(30_000), "the transfer did not end after its interface was deleted");
        string stdout = first.StandardOutput.ReadToEnd(), stderr = first.StandardError.ReadToEnd();
        _output.WriteLine($"first connect: exit {first.ExitCode}\n{stdout}\n{stderr}");
        Assert.NotEqual(0, first.ExitCode);
        Assert.Contains("hardware failure", stdout + stderr, StringComparison.OrdinalIgnoreCase);
        Assert.False(daemon.HasExited, "the daemon exited when its interface was deleted:\n" + daemon.Stdout + daemon.Stderr);
        Assert.Equal("MEDIA_DISCONNECT", Status());

        MakeVeth();
        DaemonTapLab.WaitFor(() => daemon.Stdout.Contains($"Link {_root} is back", StringComparison.Ordinal), "the daemon opening the interface again", 20);
        Assert.Equal("SUCCESS", Status());
        var second = Connect(3, "16M");
        Assert.True(second.WaitForExit(90_000), "the new connection did not finish");
        stdout = second.StandardOutput.ReadToEnd();
        stderr = second.StandardError.ReadToEnd();
        _output.WriteLine($"second connect: exit {second.ExitCode}\n{stdout}\n{stderr}");
        Assert.True(second.ExitCode == 0, $"connect exit {second.ExitCode}: {stderr}\n{stdout}\ndaemon:\n{daemon.Stdout}");
        using (var doc = JsonDocument.Parse(stdout.Trim()))
        {
            Assert.Equal(16L << 20, doc.RootElement.GetProperty("bytes_received").GetInt64());
            Assert.True(doc.RootElement.GetProperty("echo_check").GetProperty("ok").GetBoolean());
        }

        daemon.Terminate();
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        string log = daemon.Stdout;
        _output.WriteLine(string.Join('\n', log.Split('\n').Where(l => l.Contains("Link ", StringComparison.Ordinal))));
        Assert.Contains($"Link {_root} lost:", log, StringComparison.Ordinal);
        Assert.Equal("", daemon.Stderr);
    }

    public void Dispose()
    {
        Cmd.KillEach(_processes);
        _notify?.Dispose();
        Cmd.TryRun("ip", "link", "del", _root);
        // socat's per-connection children (fork) outlive the listener killed above when their connection's link
        // vanished: end every process still in this lab's own namespace, by PID.
        foreach (var pid in Cmd.TryRun("ip", "netns", "pids", _ns).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Cmd.TryRun("kill", "-KILL", pid.Trim());
        Cmd.TryRun("ip", "netns", "del", _ns);
        _dir.Dispose();
    }
}
