using System.Text.Json;
using Xunit.Abstractions;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// Issue 8, security: offloademud needs CAP_NET_ADMIN only to create a TAP. Against a persistent TAP created for a user
/// (<c>ip tuntap add dev NAME mode tap user nobody</c>, what scripts/lab.sh or an admin does once) the daemon runs as
/// that user with no capability at all (setpriv: no effective, permitted, inheritable, ambient or bounding set), serves
/// its control socket (owned by that user, mode 0660) and stops cleanly; a TAP owned by someone else is refused with a
/// clear error. /dev/net/tun is mode 0600 in this container (distributions ship it 0666), so the daemon runs in a private
/// mount namespace where a 0666 node of the same device is bound over it; nothing outside the test changes.
/// </summary>
[Trait("Category", "Privileged")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class UnprivilegedTapTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly string _tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
    private readonly string _tap;
    private readonly TempDirectory _dir = new();

    public UnprivilegedTapTests(ITestOutputHelper output)
    {
        _output = output;
        _tap = $"oeup{_tag}{Environment.ProcessId % 1_000_000}";
    }

    public void Dispose()
    {
        Cmd.TryRun("ip", "link", "del", _tap);
        _dir.Dispose();
    }

    private string[] Unprivileged(string tun) =>
    [
        "unshare", "-m", "sh", "-c",
        $"mount --bind {tun} /dev/net/tun && exec setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all \"$0\" \"$@\"",
    ];

    // The build output may sit under a directory nobody cannot enter (a clone under mktemp -d's 0700): a copy it can.
    private string Binary() => DaemonProcess.CopyForAnyUser(_dir.File("bin"));

    private (string Config, string Socket, string Tun) Prepare()
    {
        foreach (var tool in new[] { "unshare", "setpriv", "mknod" })
            if (!Cmd.Exists(tool)) Assert.Fail($"this test needs '{tool}'");
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0x1FF); // 0777: the daemon, as nobody, makes its socket here
        string tun = _dir.File("tun");
        Cmd.Run("mknod", "-m", "0666", tun, "c", "10", "200");
        string socket = _dir.File("control.sock");
        string config = _dir.Write("emulator.json", $$"""
            {
              "Link": { "Kind": "tap", "Interface": "{{_tap}}", "Create": false },
              "Capture": { "File": "" },
              "Control": { "Endpoint": "{{socket}}" },
              "Logging": { "Serilog": { "MinimumLevel": { "Default": "Information" }, "WriteTo": [ { "Name": "Console" } ] } }
            }
            """);
        return (config, socket, tun);
    }

    [Fact]
    public void The_daemon_attaches_to_a_persistent_TAP_of_its_user_with_no_capability_and_serves_its_socket()
    {
        if (!Privileged.ShouldRun()) return;
        var (config, socket, tun) = Prepare();
        Cmd.Run("ip", "tuntap", "add", "dev", _tap, "mode", "tap", "user", "nobody");

        using var daemon = DaemonProcess.Start(_dir.Path, ["--config", config],
            new Dictionary<string, string> { ["OFFLOADEMU_Control__Endpoint"] = socket }, Unprivileged(tun), Binary());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!daemon.Stdout.Contains("offloademud started", StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"the daemon did not start:\n{daemon.Stdout}\n{daemon.Stderr}");
            Thread.Sleep(100);
        }

        // No capability at all, not root.
        string status = File.ReadAllText($"/proc/{daemon.Id}/status");
        _output.WriteLine(string.Join('\n', status.Split('\n').Where(l => l.StartsWith("Cap", StringComparison.Ordinal) || l.StartsWith("Uid", StringComparison.Ordinal))));
        foreach (var field in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" })
            Assert.Contains($"{field}:\t0000000000000000", status);
        Assert.DoesNotContain("Uid:\t0\t", status);

        // The socket is the daemon user's, mode 0660; a client (here root) is served.
        Assert.Equal((UnixFileMode)0x1B0, File.GetUnixFileMode(socket));
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var run = Cmd.TryRun(dotnet, [Path.Combine(AppContext.BaseDirectory, "offloademu.dll"), "status", "--daemon", socket, "--json"],
            environment: null, timeoutMilliseconds: 20_000);
        Assert.True(run.Code == 0, run.Stderr);
        using (var doc = JsonDocument.Parse(run.Stdout.Trim()))
            Assert.Equal(_tap, doc.RootElement.GetProperty("link").GetProperty("interface").GetString());

        daemon.Terminate();
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("", daemon.Stderr);
    }

    [Fact]
    public void A_TAP_owned_by_another_user_is_refused_with_a_clear_error()
    {
        if (!Privileged.ShouldRun()) return;
        var (config, socket, tun) = Prepare();
        // Owned by root. (A TAP with neither owner nor group set is open to anyone who can open /dev/net/tun: the
        // kernel only checks an owner or group that is set. docs/security.md says to always set one.)
        Cmd.Run("ip", "tuntap", "add", "dev", _tap, "mode", "tap", "user", "root");

        using var daemon = DaemonProcess.Start(_dir.Path, ["--config", config],
            new Dictionary<string, string> { ["OFFLOADEMU_Control__Endpoint"] = socket }, Unprivileged(tun), Binary());
        int code = daemon.WaitForExit(TimeSpan.FromSeconds(30));
        string all = daemon.Stdout + daemon.Stderr;
        _output.WriteLine($"exit {code}\n{all}");
        Assert.NotEqual(0, code);
        Assert.Contains($"not allowed to attach TAP '{_tap}' (it belongs to another user or group); create it for the daemon's user", all);
        Assert.Equal(78, code); // EX_CONFIG: systemd does not restart it
        Assert.DoesNotContain("Unhandled exception", all);
        Assert.False(File.Exists(socket), "the refused daemon left a socket");
    }
}
