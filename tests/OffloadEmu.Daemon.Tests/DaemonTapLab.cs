using System.Diagnostics;
using System.Text.Json;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// The privileged lab of the daemon-on-a-TAP tests: a TAP made in the root namespace and attached by a real offloademud
/// (READY=1 on its notify socket), then moved into a namespace of this test's own (named <c>oe-…</c>, IPv6 off, no route
/// out) where the kernel gets <c>198.18.X.1/24</c> and a socat echo server; offloademu processes run against the
/// daemon's control socket. Dispose ends every process it started by PID and removes the TAP and the namespace by their
/// exact names.
/// </summary>
internal sealed class DaemonTapLab : IDisposable
{
    private readonly List<Process> _processes = [];

    /// <param name="nsPrefix">Namespace name prefix (must start with <c>oe-</c>).</param>
    /// <param name="tapPrefix">TAP name prefix (kept short: interface names have 15 characters).</param>
    /// <param name="subnet">The third octet of 198.18.X.0/24: the kernel is .1.</param>
    public DaemonTapLab(string nsPrefix, string tapPrefix, int subnet)
    {
        if (!nsPrefix.StartsWith("oe-", StringComparison.Ordinal)) throw new ArgumentException("lab namespaces are named oe-*", nameof(nsPrefix));
        string tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
        Namespace = $"{nsPrefix}{tag}{Environment.ProcessId}";
        Tap = $"{tapPrefix}{tag}{Environment.ProcessId % 1_000_000}";
        Subnet = subnet;
    }

    public string Namespace { get; }
    public string Tap { get; }
    public int Subnet { get; }
    public TempDirectory Dir { get; } = new();
    public string Socket => Dir.File("control.sock");

    /// <summary>The daemon's systemd notify socket (after <see cref="StartDaemon"/>): READY=1 was read, STOPPING=1 follows.</summary>
    public NotifySocket? Notify { get; private set; }

    /// <summary>The kernel's address in the namespace.</summary>
    public string KernelIp => $"198.18.{Subnet}.1";

    /// <summary>Address <paramref name="host"/> of the lab's /24, for a host stack.</summary>
    public string Address(int host) => $"198.18.{Subnet}.{host}";

    /// <summary>dotnet to run the CLI with.</summary>
    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <summary>offloademu (the CLI) beside the tests.</summary>
    public static string Cli => Path.Combine(AppContext.BaseDirectory, "offloademu.dll");

    /// <summary>Makes the TAP and starts offloademud on it (its MAC, and <paramref name="capture"/> as the emulator.json
    /// Capture section's JSON, none by default); returns once the daemon said READY=1. <paramref name="multiQueue"/>: the
    /// TAP is made with <c>multi_queue</c> (for <c>Nic:Queues</c> &gt; 1).</summary>
    public DaemonProcess StartDaemon(string mac, string capture = """{ "File": "" }""", IReadOnlyDictionary<string, string>? environment = null,
        bool multiQueue = false)
    {
        if (multiQueue) Cmd.Run("ip", "tuntap", "add", "dev", Tap, "mode", "tap", "multi_queue");
        else Cmd.Run("ip", "tuntap", "add", "dev", Tap, "mode", "tap");
        string config = Dir.Write("emulator.json", $$"""
            {
              "Link": { "Kind": "tap", "Interface": "{{Tap}}", "Create": false, "MacAddress": "{{mac}}" },
              "Capture": {{capture}},
              "Control": { "Endpoint": "{{Socket}}" },
              "Logging": { "Serilog": { "MinimumLevel": { "Default": "Information" }, "WriteTo": [ { "Name": "Console" } ] } }
            }
            """);
        Notify = new NotifySocket(Dir.File("notify.sock"));
        var env = new Dictionary<string, string> { ["NOTIFY_SOCKET"] = Notify.Address, ["OFFLOADEMU_Control__Endpoint"] = Socket };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) env[key] = value;
        var daemon = DaemonProcess.Start(Dir.Path, ["--config", config], env);
        Assert.Equal("READY=1", Notify.Receive());
        return daemon;
    }

    /// <summary>The daemon holds the TAP: moves it into the namespace, gives the kernel its address and starts socat's
    /// echo on port 7 (<c>-b 4096</c> against its PIPE deadlock; <paramref name="fork"/>: one child per connection).</summary>
    public void HandTapToKernelWithEcho(bool fork = false)
    {
        Cmd.Run("ip", "netns", "add", Namespace);
        Cmd.Run("ip", "netns", "exec", Namespace, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
        Cmd.Run("ip", "-n", Namespace, "link", "set", "lo", "up");
        Cmd.TryRun("ip", "netns", "exec", Namespace, "sysctl", "-qw", "net.ipv4.tcp_congestion_control=cubic");
        MoveTapToKernel();
        Start("ip", "netns", "exec", Namespace, "socat", "-b", "4096", fork ? "TCP-LISTEN:7,reuseaddr,fork" : "TCP-LISTEN:7,reuseaddr", "PIPE");
        WaitFor(() => Cmd.TryRun("ip", "netns", "exec", Namespace, "ss", "-Hltn", "sport = :7").Stdout.Contains(":7", StringComparison.Ordinal),
            "socat listening on port 7");
    }

    /// <summary>Moves the TAP (attached by the daemon) into the namespace and gives the kernel its address there; used
    /// again for a TAP re-created after a deletion.</summary>
    public void MoveTapToKernel()
    {
        Cmd.Run("ip", "link", "set", Tap, "netns", Namespace);
        Cmd.Run("ip", "netns", "exec", Namespace, "sysctl", "-qw", $"net.ipv6.conf.{Tap}.disable_ipv6=1");
        Cmd.Run("ip", "-n", Namespace, "addr", "add", $"{KernelIp}/24", "dev", Tap);
        Cmd.Run("ip", "-n", Namespace, "link", "set", Tap, "up");
    }

    /// <summary>The arguments of <c>offloademu connect</c> to the kernel's echo from <paramref name="host"/>, through the
    /// daemon, offloaded at once, echo-checked, JSON summary.</summary>
    public string[] ConnectArgs(int host, string bytes, params string[] extra)
        => [Cli, "connect", $"{KernelIp}:7", "--daemon", Socket, "--local", $"{Address(host)}/24", "--echo-check", "--send-bytes", bytes,
            "--offload", "immediate", "--json", "--arp-tries", "10", .. extra];

    /// <summary>Starts a process (output redirected) that Dispose ends by its PID.</summary>
    public Process Start(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        _processes.Add(p);
        return p;
    }

    /// <summary><c>offloademu status --json</c> against the daemon; null when it does not answer.</summary>
    public JsonDocument? Status()
    {
        var run = Cmd.TryRun(Dotnet, [Cli, "status", "--daemon", Socket, "--json"], environment: null, timeoutMilliseconds: 20_000);
        return run.Code == 0 ? JsonDocument.Parse(run.Stdout.Trim()) : null;
    }

    /// <summary>The local endpoints of the connections the daemon has offloaded (status --json).</summary>
    public string Offloaded()
    {
        using var doc = Status();
        if (doc is null) return "";
        return string.Join(' ', doc.RootElement.GetProperty("connections").EnumerateArray().Select(c => c.GetProperty("local").GetString()));
    }

    public static void WaitFor(Func<bool> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("timed out waiting for " + what);
            Thread.Sleep(50);
        }
    }

    public void Dispose()
    {
        Cmd.KillEach(_processes);
        Notify?.Dispose();
        // Only what this lab made, by its exact names.
        Cmd.TryRun("ip", "-n", Namespace, "link", "del", Tap);
        Cmd.TryRun("ip", "link", "del", Tap);
        // socat's per-connection children (fork) outlive the listener killed above when their connection's link
        // vanished: end every process still in this lab's own namespace, by PID.
        foreach (var pid in Cmd.TryRun("ip", "netns", "pids", Namespace).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Cmd.TryRun("kill", "-KILL", pid.Trim());
        Cmd.TryRun("ip", "netns", "del", Namespace);
        Dir.Dispose();
    }
}
