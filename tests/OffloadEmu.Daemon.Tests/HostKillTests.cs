using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Xunit.Abstractions;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// Issue 8, faults: a host process killed (SIGKILL) mid-transfer. offloademud on a TAP whose other end is the kernel in
/// our own namespace oe-hk&lt;tag&gt;&lt;pid&gt; (198.18.248.1/24, socat echo forking per connection); two
/// <c>offloademu connect --daemon</c> processes (198.18.248.2 and .3) each with an offloaded echo transfer. Killing the
/// first: the daemon aborts its connection (the kernel gets a RST: its socket leaves ESTABLISHED at once and
/// TcpEstabResets counts it), frees its objects (status shows its connection and session gone), and the second host
/// finishes its transfer with the echo check OK. Addresses only from 198.18.0.0/15, no route out; the namespace, the
/// TAP and every process (by PID) are removed at the end.
/// </summary>
[Trait("Category", "Privileged")]
public sealed partial class HostKillTests : IDisposable
{
    private const int SIGKILL = 9;
    private readonly ITestOutputHelper _output;
    private readonly string _tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
    private readonly string _ns;
    private readonly string _tap;
    private readonly TempDirectory _dir = new();
    private readonly List<Process> _processes = [];

    public HostKillTests(ITestOutputHelper output)
    {
        _output = output;
        _ns = $"oe-hk{_tag}{Environment.ProcessId}";
        _tap = $"oehk{_tag}{Environment.ProcessId % 1_000_000}";
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
    public void Killing_one_host_process_resets_its_connection_frees_its_objects_and_the_other_host_finishes()
    {
        if (!Privileged.ShouldRun()) return;
        if (!Cmd.Exists("socat")) Assert.Fail("this test needs socat (scripts/test.sh installs it)");

        Cmd.Run("ip", "tuntap", "add", "dev", _tap, "mode", "tap");
        string socket = _dir.File("control.sock");
        string config = _dir.Write("emulator.json", $$"""
            {
              "Link": { "Kind": "tap", "Interface": "{{_tap}}", "Create": false, "MacAddress": "02:00:00:18:f8:02" },
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
        Cmd.Run("ip", "-n", _ns, "addr", "add", "198.18.248.1/24", "dev", _tap);
        Cmd.Run("ip", "-n", _ns, "link", "set", _tap, "up");
        Start("ip", "netns", "exec", _ns, "socat", "-b", "4096", "TCP-LISTEN:7,reuseaddr,fork", "PIPE");
        WaitFor(() => Cmd.TryRun("ip", "netns", "exec", _ns, "ss", "-Hltn", "sport = :7").Stdout.Contains(":7", StringComparison.Ordinal), "socat listening on port 7");

        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        string cli = Path.Combine(AppContext.BaseDirectory, "offloademu.dll");
        string[] Connect(string local, string bytes) =>
            [cli, "connect", "198.18.248.1:7", "--daemon", socket, "--local", local + "/24", "--echo-check", "--send-bytes", bytes,
             "--offload", "immediate", "--json", "--timeout", "60", "--arp-tries", "10"];

        // Host A: a transfer far longer than the test; host B: 64 MiB, started once A is offloaded.
        var a = Start(dotnet, Connect("198.18.248.2", "100G"));
        WaitFor(() => Offloaded(socket).Contains("198.18.248.2"), "host A's connection offloaded", 30);
        var b = Start(dotnet, Connect("198.18.248.3", "64M"));
        WaitFor(() => Offloaded(socket).Contains("198.18.248.3"), "host B's connection offloaded", 30);
        Assert.Equal(2, Sessions(socket));
        long resetsBefore = EstabResets();
        Assert.Contains("198.18.248.2", KernelEstablished());

        Assert.Equal(0, Kill(a.Id, SIGKILL));
        var killed = Stopwatch.StartNew();
        Assert.True(a.WaitForExit(10_000));

        // The daemon saw the session go: A's connection aborted (RST to the kernel), its objects freed.
        WaitFor(() => !Offloaded(socket).Contains("198.18.248.2") && Sessions(socket) == 1, "A's connection and session gone from status", 10);
        WaitFor(() => !KernelEstablished().Contains("198.18.248.2"), "the kernel's socket of A's connection gone (RST)", 10);
        long resets = EstabResets() - resetsBefore;
        _output.WriteLine($"A cleaned up in {killed.Elapsed.TotalMilliseconds:F0} ms; kernel TcpEstabResets +{resets}");
        Assert.True(resets >= 1, "the kernel counted no reset of an established connection");

        // B is unaffected: it finishes, echo check OK.
        Assert.True(b.WaitForExit(60_000), "host B did not finish");
        string bOut = b.StandardOutput.ReadToEnd();
        string bErr = b.StandardError.ReadToEnd();
        _output.WriteLine($"B: exit {b.ExitCode}\n{bOut}\n{bErr}");
        Assert.True(b.ExitCode == 0, $"host B exit {b.ExitCode}: {bErr}\n{bOut}\ndaemon:\n{daemon.Stdout}");
        using (var doc = JsonDocument.Parse(bOut.Trim()))
        {
            var j = doc.RootElement;
            Assert.Equal(64L << 20, j.GetProperty("bytes_received").GetInt64());
            Assert.True(j.GetProperty("echo_check").GetProperty("ok").GetBoolean());
            Assert.Equal(JsonValueKind.Null, j.GetProperty("error").ValueKind);
        }
        WaitFor(() => Sessions(socket) == 0, "no session left", 10);

        daemon.Terminate();
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("", daemon.Stderr);
    }

    /// <summary>The local endpoints of the connections the daemon has offloaded (status --json).</summary>
    private static string Offloaded(string socket)
    {
        using var doc = Status(socket);
        if (doc is null) return "";
        return string.Join(' ', doc.RootElement.GetProperty("connections").EnumerateArray().Select(c => c.GetProperty("local").GetString()));
    }

    private static int Sessions(string socket)
    {
        using var doc = Status(socket);
        return doc?.RootElement.GetProperty("sessions").GetArrayLength() ?? -1;
    }

    private static JsonDocument? Status(string socket)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var run = Cmd.TryRun(dotnet, [Path.Combine(AppContext.BaseDirectory, "offloademu.dll"), "status", "--daemon", socket, "--json"],
            environment: null, timeoutMilliseconds: 20_000);
        return run.Code == 0 ? JsonDocument.Parse(run.Stdout.Trim()) : null;
    }

    private string KernelEstablished() => Cmd.TryRun("ip", "netns", "exec", _ns, "ss", "-Htn", "state", "established", "sport = :7").Stdout;

    private long EstabResets()
    {
        // nstat -a: absolute values; TcpEstabResets counts ESTABLISHED/CLOSE-WAIT → CLOSED transitions (a RST received).
        string text = Cmd.TryRun("ip", "netns", "exec", _ns, "nstat", "-az", "TcpEstabResets").Stdout;
        foreach (var line in text.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && parts[0] == "TcpEstabResets") return long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        Assert.Fail("nstat gave no TcpEstabResets: " + text);
        return 0;
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

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
