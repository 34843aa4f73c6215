using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// Issue 8, device faults: the TAP under a running offloademud brought down (ip link set down, in our namespace
/// oe-tf&lt;tag&gt;&lt;pid&gt;) for 2 s in the middle of an offloaded 160 MiB echo transfer to the kernel, then up. The
/// daemon's writes fail with EIO meanwhile: counted InterfaceDown drops, one warning when it goes down, one line when
/// frames leave again (with the count); the target keeps the connection, TCP retransmits, the transfer finishes with the
/// echo check OK, the daemon exits 0. Addresses only from 198.18.0.0/15, no route out; everything removed at the end.
/// </summary>
[Trait("Category", "Privileged")]
public sealed class TapFaultTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly string _tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
    private readonly string _ns;
    private readonly string _tap;
    private readonly TempDirectory _dir = new();
    private readonly List<Process> _processes = [];

    public TapFaultTests(ITestOutputHelper output)
    {
        _output = output;
        _ns = $"oe-tf{_tag}{Environment.ProcessId}";
        _tap = $"oetf{_tag}{Environment.ProcessId % 1_000_000}";
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill();   // this PID only
                    p.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        Cmd.TryRun("ip", "-n", _ns, "link", "del", _tap);
        Cmd.TryRun("ip", "link", "del", _tap);
        Cmd.TryRun("ip", "netns", "del", _ns);
        _dir.Dispose();
    }

    [Fact]
    public void The_TAP_down_then_up_under_a_transfer_is_logged_once_each_way_counted_and_the_transfer_finishes()
    {
        if (!Privileged.ShouldRun()) return;
        if (!Cmd.Exists("socat")) Assert.Fail("this test needs socat (scripts/test.sh installs it)");

        Cmd.Run("ip", "tuntap", "add", "dev", _tap, "mode", "tap");
        string socket = _dir.File("control.sock");
        string config = _dir.Write("emulator.json", $$"""
            {
              "Link": { "Kind": "tap", "Interface": "{{_tap}}", "Create": false, "MacAddress": "02:00:00:18:f7:02" },
              "Capture": { "File": "" },
              "Control": { "Endpoint": "{{socket}}" },
              "Logging": { "Serilog": { "MinimumLevel": { "Default": "Information" }, "WriteTo": [ { "Name": "Console" } ] } }
            }
            """);
        using var notify = new NotifySocket(_dir.File("notify.sock"));
        using var daemon = DaemonProcess.Start(_dir.Path, ["--config", config],
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = notify.Address, ["OFFLOADEMU_Control__Endpoint"] = socket });
        Assert.Equal("READY=1", notify.Receive());

        Cmd.Run("ip", "netns", "add", _ns);
        Cmd.Run("ip", "netns", "exec", _ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
        Cmd.Run("ip", "-n", _ns, "link", "set", "lo", "up");
        Cmd.Run("ip", "link", "set", _tap, "netns", _ns);
        Cmd.Run("ip", "netns", "exec", _ns, "sysctl", "-qw", $"net.ipv6.conf.{_tap}.disable_ipv6=1");
        Cmd.Run("ip", "-n", _ns, "addr", "add", "198.18.247.1/24", "dev", _tap);
        Cmd.Run("ip", "-n", _ns, "link", "set", _tap, "up");
        Start("ip", "netns", "exec", _ns, "socat", "-b", "4096", "TCP-LISTEN:7,reuseaddr", "PIPE");
        WaitFor(() => Cmd.TryRun("ip", "netns", "exec", _ns, "ss", "-Hltn", "sport = :7").Stdout.Contains(":7", StringComparison.Ordinal), "socat listening on port 7");

        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        string cli = Path.Combine(AppContext.BaseDirectory, "offloademu.dll");
        var run = Start(dotnet, cli, "connect", "198.18.247.1:7", "--daemon", socket, "--local", "198.18.247.2/24", "--echo-check",
            "--send-bytes", "160M", "--offload", "immediate", "--json", "--timeout", "120", "--arp-tries", "10");
        WaitFor(() => Offloaded(socket).Contains("198.18.247.2"), "the connection offloaded", 30);
        Thread.Sleep(500);

        Cmd.Run("ip", "-n", _ns, "link", "set", _tap, "down");
        Thread.Sleep(2000);
        Assert.False(run.HasExited, "the transfer ended while the TAP was down");
        Cmd.Run("ip", "-n", _ns, "link", "set", _tap, "up");

        Assert.True(run.WaitForExit(120_000), "the transfer did not finish after the TAP came back");
        string stdout = run.StandardOutput.ReadToEnd();
        string stderr = run.StandardError.ReadToEnd();
        _output.WriteLine($"connect: exit {run.ExitCode}\n{stdout}\n{stderr}");
        Assert.True(run.ExitCode == 0, $"connect exit {run.ExitCode}: {stderr}\n{stdout}\ndaemon:\n{daemon.Stdout}");
        using (var doc = JsonDocument.Parse(stdout.Trim()))
        {
            var j = doc.RootElement;
            Assert.Equal(160L << 20, j.GetProperty("bytes_received").GetInt64());
            Assert.True(j.GetProperty("echo_check").GetProperty("ok").GetBoolean());
            // The frames dropped while the TAP was down were sent again.
            Assert.True(j.GetProperty("retransmits").GetInt64() > 0, "no retransmission: the outage did not hit the transfer");
        }

        daemon.Terminate();
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        string log = daemon.Stdout;
        _output.WriteLine(string.Join('\n', log.Split('\n').Where(l => l.Contains("Link ", StringComparison.Ordinal))));
        Assert.Equal(1, Count(log, $"Link {_tap} is down"));
        Assert.Equal(1, Count(log, $"Link {_tap} is up again"));
        var up = System.Text.RegularExpressions.Regex.Match(log, @"is up again: (\d+) frames were dropped");
        Assert.True(up.Success && long.Parse(up.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, log);
        Assert.Equal("", daemon.Stderr);
    }

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + 1, StringComparison.Ordinal)) n++;
        return n;
    }

    /// <summary>The local endpoints of the connections the daemon has offloaded (status --json).</summary>
    private static string Offloaded(string socket)
    {
        using var doc = Status(socket);
        if (doc is null) return "";
        return string.Join(' ', doc.RootElement.GetProperty("connections").EnumerateArray().Select(c => c.GetProperty("local").GetString()));
    }

    private static JsonDocument? Status(string socket)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var run = Cmd.TryRun(dotnet, [Path.Combine(AppContext.BaseDirectory, "offloademu.dll"), "status", "--daemon", socket, "--json"],
            environment: null, timeoutMilliseconds: 20_000);
        return run.Code == 0 ? JsonDocument.Parse(run.Stdout.Trim()) : null;
    }

    private Process Start(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        _processes.Add(p);
        return p;
    }

    private static void WaitFor(Func<bool> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("timed out waiting for " + what);
            Thread.Sleep(100);
        }
    }
}
