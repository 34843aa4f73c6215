using System.Text.Json;
using Xunit.Abstractions;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// Issue 8, device faults: the TAP under a running offloademud deleted in the middle of an offloaded echo transfer to
/// the kernel (namespace oe-tl&lt;tag&gt;&lt;pid&gt;). The daemon does not exit: it logs the loss once, the host's offloaded
/// connection fails as on a hardware failure (spec §6.6, docs/target.md "Device faults"), `offloademu status` answers
/// MEDIA_DISCONNECT; when the TAP is created again (as scripts/lab.sh does) and handed to the kernel, the daemon attaches
/// it and a new connection transfers byte-exact; the daemon then exits 0. Addresses only from 198.18.0.0/15, no route
/// out; everything removed at the end.
/// </summary>
[Trait("Category", "Privileged")]
public sealed class TapLossTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly DaemonTapLab _lab = new("oe-tl", "oetl", 246);

    public TapLossTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _lab.Dispose();

    private string StatusName()
    {
        using var doc = _lab.Status();
        return doc?.RootElement.GetProperty("status").GetString() ?? "(no answer)";
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]   // Nic:Queues=2 on a multi_queue TAP: both queues lost, closed and attached again together
    [InlineData(1, true)]   // Nic:TransmitThread: the loss shows on the transmit thread's sends as well as on the reads
    public void The_TAP_deleted_under_a_transfer_fails_the_connection_keeps_the_daemon_and_a_recreated_TAP_serves_a_new_connection(int queues,
        bool transmitThread = false)
    {
        if (!Privileged.ShouldRun()) return;
        if (!Cmd.Exists("socat")) Assert.Fail("this test needs socat (scripts/test.sh installs it)");

        using var daemon = _lab.StartDaemon("02:00:00:18:f6:02", environment: new Dictionary<string, string>
        {
            ["OFFLOADEMU_Link__ReattachDelayMilliseconds"] = "100",
            ["OFFLOADEMU_Link__ReattachMaxDelayMilliseconds"] = "400",
            ["OFFLOADEMU_Nic__Queues"] = queues.ToString(),
            ["OFFLOADEMU_Nic__TransmitThread"] = transmitThread ? "true" : "false",
        }, multiQueue: queues > 1);
        _lab.HandTapToKernelWithEcho(fork: true);
        var first = _lab.Start(DaemonTapLab.Dotnet, _lab.ConnectArgs(2, "4G", "--timeout", "60"));
        DaemonTapLab.WaitFor(() => _lab.Offloaded().Contains("198.18.246.2"), "the connection offloaded", 30);
        Thread.Sleep(500);
        Assert.Equal("SUCCESS", StatusName());
        AssertEngineReadsTheLink(daemon, queues, transmitThread);

        Cmd.Run("ip", "-n", _lab.Namespace, "link", "del", _lab.Tap);
        Assert.True(first.WaitForExit(30_000), "the transfer did not end after its link was deleted");
        string stdout = first.StandardOutput.ReadToEnd();
        string stderr = first.StandardError.ReadToEnd();
        _output.WriteLine($"first connect: exit {first.ExitCode}\n{stdout}\n{stderr}");
        Assert.NotEqual(0, first.ExitCode);
        Assert.Contains("hardware failure", stdout + stderr, StringComparison.OrdinalIgnoreCase);

        // The daemon lives on and says the link is lost; nothing is left offloaded.
        Assert.False(daemon.HasExited, "the daemon exited when its TAP was deleted:\n" + daemon.Stdout + daemon.Stderr);
        Assert.Equal("MEDIA_DISCONNECT", StatusName());
        Assert.Equal("", _lab.Offloaded());

        // The TAP comes back (as scripts/lab.sh makes it) and goes to the kernel once the daemon holds it again.
        if (queues > 1) Cmd.Run("ip", "tuntap", "add", "dev", _lab.Tap, "mode", "tap", "multi_queue");
        else Cmd.Run("ip", "tuntap", "add", "dev", _lab.Tap, "mode", "tap");
        DaemonTapLab.WaitFor(() => daemon.Stdout.Contains($"Link {_lab.Tap} is back", StringComparison.Ordinal), "the daemon re-attaching the TAP", 20);
        _lab.MoveTapToKernel();
        Assert.Equal("SUCCESS", StatusName());
        if (queues > 1)
        {
            using var doc = _lab.Status();
            Assert.Equal(queues, doc!.RootElement.GetProperty("target").GetProperty("device_queues").GetInt32());
        }

        AssertEngineReadsTheLink(daemon, queues, transmitThread);   // the same engine threads, now on the re-opened TAP's descriptors

        var second = _lab.Start(DaemonTapLab.Dotnet, _lab.ConnectArgs(3, "16M", "--timeout", "60"));
        Assert.True(second.WaitForExit(90_000), "the new connection did not finish");
        stdout = second.StandardOutput.ReadToEnd();
        stderr = second.StandardError.ReadToEnd();
        _output.WriteLine($"second connect: exit {second.ExitCode}\n{stdout}\n{stderr}");
        Assert.True(second.ExitCode == 0, $"connect exit {second.ExitCode}: {stderr}\n{stdout}\ndaemon:\n{daemon.Stdout}");
        using (var doc = JsonDocument.Parse(stdout.Trim()))
        {
            var j = doc.RootElement;
            Assert.Equal(16L << 20, j.GetProperty("bytes_received").GetInt64());
            Assert.True(j.GetProperty("echo_check").GetProperty("ok").GetBoolean());
            // Offloaded on the re-attached TAP for most of its life (the close hands it back at the end).
            Assert.Equal(1, j.GetProperty("offloads").GetInt64());
            double offloaded = j.GetProperty("lived_seconds").GetProperty("offloaded").GetDouble();
            Assert.True(offloaded >= 0.5 * j.GetProperty("seconds").GetDouble(), $"offloaded only {offloaded} s of {j.GetProperty("seconds").GetDouble()} s");
        }

        daemon.Terminate();
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        string log = daemon.Stdout;
        _output.WriteLine(string.Join('\n', log.Split('\n').Where(l => l.Contains("Link ", StringComparison.Ordinal))));
        Assert.Equal(1, Count(log, $"Link {_lab.Tap} lost:"));
        Assert.Contains($"offloaded connections on the lost link {_lab.Tap} failed (hardware failure", log, StringComparison.Ordinal);
        Assert.Equal(1, Count(log, $"Link {_lab.Tap} is back"));
        Assert.Equal("", daemon.Stderr);
    }

    // The TAP has a readiness descriptor under the supervisor: the target's engine loops read it themselves (one
    // "oe-target" thread per queue), the daemon runs no "oe-rx" receive thread, only the "oe-link" watcher; with
    // Nic:TransmitThread each loop has its "oe-target-tx" writer as well.
    private void AssertEngineReadsTheLink(DaemonProcess daemon, int queues, bool transmitThread)
    {
        var names = daemon.ThreadNames();
        _output.WriteLine("daemon threads: " + string.Join(", ", names));
        Assert.DoesNotContain(names, n => n.StartsWith("oe-rx", StringComparison.Ordinal));
        Assert.Single(names, n => n.StartsWith("oe-link", StringComparison.Ordinal));
        Assert.Equal(queues, names.Count(n => n.StartsWith("oe-target", StringComparison.Ordinal)
            && !n.StartsWith("oe-target-rx", StringComparison.Ordinal) && !n.StartsWith("oe-target-tx", StringComparison.Ordinal)));
        Assert.Equal(transmitThread ? queues : 0, names.Count(n => n.StartsWith("oe-target-tx", StringComparison.Ordinal)));
        Assert.DoesNotContain(names, n => n.StartsWith("oe-target-rx", StringComparison.Ordinal));
    }

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + 1, StringComparison.Ordinal)) n++;
        return n;
    }
}
