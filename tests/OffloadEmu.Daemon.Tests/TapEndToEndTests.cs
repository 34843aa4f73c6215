using System.Buffers.Binary;
using OffloadEmu.Link.Capture;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// offloademud on a real TAP: the daemon attaches a TAP by name in the root namespace, the TAP is then
/// moved into our own namespace oe-t-dmn&lt;pid&gt; (the descriptor follows it), the kernel there pings the
/// daemon's address, and the daemon's capture holds the kernel's ARP requests. SIGTERM stops it cleanly.
/// </summary>
[Trait("Category", "Privileged")]
public sealed class TapEndToEndTests : IDisposable
{
    private readonly string _ns = $"oe-t-dmn{Environment.ProcessId}";
    private readonly string _tap = $"oetdmn{Environment.ProcessId}";
    private readonly TempDirectory _dir = new();

    public void Dispose()
    {
        // Only what this test made, by its exact names.
        Cmd.TryRun("ip", "-n", _ns, "link", "del", _tap);
        Cmd.TryRun("ip", "link", "del", _tap);
        Cmd.TryRun("ip", "netns", "del", _ns);
        _dir.Dispose();
    }

    [Fact]
    public void Kernel_ARP_requests_reach_the_daemon_capture_and_SIGTERM_exits_0()
    {
        if (!Privileged.ShouldRun()) return;
        // Leftovers of a crashed run of this same process id only.
        Dispose();
        Directory.CreateDirectory(_dir.Path);

        Cmd.Run("ip", "tuntap", "add", "dev", _tap, "mode", "tap");
        string capture = _dir.File("daemon.pcapng");
        string config = _dir.Write("emulator.json", $$"""
            {
              "Link": { "Kind": "tap", "Interface": "{{_tap}}", "Create": false, "MacAddress": "02:00:00:18:f4:02" },
              "Capture": { "File": "{{capture}}", "Format": "pcapng" },
              "Logging": { "Serilog": { "MinimumLevel": { "Default": "Information" }, "WriteTo": [ { "Name": "Console" } ] } }
            }
            """);
        using var notify = new NotifySocket(_dir.File("notify.sock"));
        using var daemon = DaemonProcess.Start(_dir.Path, ["--config", config], new Dictionary<string, string> { ["NOTIFY_SOCKET"] = notify.Address });
        Assert.Equal("READY=1", notify.Receive());

        Cmd.Run("ip", "netns", "add", _ns);
        Cmd.Run("ip", "netns", "exec", _ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
        Cmd.Run("ip", "-n", _ns, "link", "set", "lo", "up");
        Cmd.Run("ip", "link", "set", _tap, "netns", _ns);
        Cmd.Run("ip", "netns", "exec", _ns, "sysctl", "-qw", $"net.ipv6.conf.{_tap}.disable_ipv6=1");
        Cmd.Run("ip", "-n", _ns, "addr", "add", "198.18.244.1/24", "dev", _tap);
        Cmd.Run("ip", "-n", _ns, "link", "set", _tap, "up");

        // The daemon does not answer yet: ping fails, but the kernel ARPs for 198.18.244.2 meanwhile.
        var ping = Cmd.TryRun("ip", "netns", "exec", _ns, "ping", "-c", "2", "-i", "0.5", "-W", "1", "198.18.244.2");
        Assert.NotEqual(0, ping.Code);

        daemon.Terminate();
        Assert.Equal("STOPPING=1", notify.Receive());
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("", daemon.Stderr);

        var frames = CaptureReader.Open(capture).ReadAll().ToList();
        int arps = frames.Count(f => f.Direction == CaptureDirection.Inbound && IsArpRequestFor(f.Data.Span, [198, 18, 244, 2]));
        Assert.True(arps >= 1, $"no ARP request for 198.18.244.2 among {frames.Count} captured frames; daemon output:\n{daemon.Stdout}");
        Assert.All(frames, f => Assert.Equal(_tap, f.InterfaceName));

        Assert.Equal(0, TsharkCount(capture, "_ws.malformed"));
        Assert.Equal(arps, TsharkCount(capture, "arp.opcode == 1 && arp.src.proto_ipv4 == 198.18.244.1 && arp.dst.proto_ipv4 == 198.18.244.2"));
    }

    private static bool IsArpRequestFor(ReadOnlySpan<byte> f, ReadOnlySpan<byte> ip)
        => f.Length >= 42 && BinaryPrimitives.ReadUInt16BigEndian(f[12..]) == 0x0806
           && BinaryPrimitives.ReadUInt16BigEndian(f[20..]) == 1 && f.Slice(38, 4).SequenceEqual(ip);

    private static int TsharkCount(string file, string filter)
        => Cmd.Run("tshark", "-r", file, "-n", "-Y", filter, "-T", "fields", "-e", "frame.number")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
}
