using Microsoft.Extensions.DependencyInjection;
using OffloadEmu.Daemon.Systemd;
using OffloadEmu.Link.Capture;

namespace OffloadEmu.Daemon.Tests;

/// <summary>The built offloademud as a process: exit codes, stderr, signals and systemd notifications.</summary>
public sealed class ProcessTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Bad_configuration_exits_78_with_one_line_on_stderr_and_no_stack_trace()
    {
        string config = _dir.Write("bad.json", TestConfig.MemoryJson.Replace("\"memory\"", "\"tap\"", StringComparison.Ordinal)
            .Replace("\"mem0\"", "\"oe-t-none9\"", StringComparison.Ordinal));
        using var daemon = DaemonProcess.Start(_dir.Path, ["--config", config]);
        int code = daemon.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.Equal(78, code);
        Assert.Equal(
            "offloademud: Link:Interface: no TAP named 'oe-t-none9' in this network namespace; create it with scripts/lab.sh up (and run offloademud with scripts/lab.sh exec) or set Link:Create=true",
            daemon.Stderr.TrimEnd('\n'));
        Assert.DoesNotContain(" at ", daemon.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", daemon.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_environment_variable_exits_78_naming_the_setting()
    {
        _dir.Write("emulator.json", TestConfig.MemoryJson);
        using var daemon = DaemonProcess.Start(_dir.Path, [], new Dictionary<string, string> { ["OFFLOADEMU_Offload__TicksPerSecond"] = "250" });
        Assert.Equal(78, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("offloademud: Offload:TicksPerSecond: 250 is not a chimney tick rate; use 10, 100 or 1000", daemon.Stderr.TrimEnd('\n'));
    }

    [Theory]
    [InlineData("path")]
    [InlineData("abstract")]
    public void Notifies_ready_then_stopping_and_exits_0_on_SIGTERM_with_the_capture_flushed(string kind)
    {
        _dir.Write("emulator.json", TestConfig.MemoryJson);
        string address = kind == "path" ? _dir.File("notify.sock") : $"@oe-t-dmn-notify-{Guid.NewGuid():N}";
        using var notify = new NotifySocket(address);
        string capture = _dir.File("cap.pcapng");
        using var daemon = DaemonProcess.Start(_dir.Path, [$"--Capture:File={capture}", "--Capture:FlushIntervalMilliseconds=60000"],
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = address });

        Assert.Equal("READY=1", notify.Receive());
        Assert.True(File.Exists(capture), "the capture is open by the time the daemon says it is ready");
        daemon.Terminate();
        Assert.Equal("STOPPING=1", notify.Receive());
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("", daemon.Stderr);
        // Closed properly: a complete pcapng with the interfaces (the link's, the control messages') and no frames.
        var reader = CaptureReader.Open(capture);
        Assert.Empty(reader.ReadAll());
        Assert.Equal(["mem0", "offloademu-control"], reader.Interfaces.Select(i => i.Name));
    }

    [Fact]
    public async Task In_process_host_notifies_through_the_registered_notifier()
    {
        using var notify = new NotifySocket(_dir.File("n.sock"));
        using var host = TestConfig.Build(_dir, TestConfig.MemoryJson, [], services: s => s.AddSingleton(new SystemdNotifier(notify.Address)));
        await host.StartAsync();
        Assert.Equal("READY=1", notify.Receive());
        await host.StopAsync();
        Assert.Equal("STOPPING=1", notify.Receive());
    }

    [Fact]
    public void Without_NOTIFY_SOCKET_nothing_is_sent()
    {
        var n = new SystemdNotifier(null);
        Assert.False(n.IsEnabled);
        Assert.False(n.Notify("READY=1"));
    }

    [Fact]
    public void Help_exits_0()
    {
        using var daemon = DaemonProcess.Start(_dir.Path, ["--help"]);
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Contains("--config PATH", daemon.Stdout, StringComparison.Ordinal);
    }
}
