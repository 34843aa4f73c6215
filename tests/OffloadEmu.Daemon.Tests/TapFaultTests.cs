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
    private readonly DaemonTapLab _lab = new("oe-tf", "oetf", 247);

    public TapFaultTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _lab.Dispose();

    [Fact]
    public void The_TAP_down_then_up_under_a_transfer_is_logged_once_each_way_counted_and_the_transfer_finishes()
    {
        if (!Privileged.ShouldRun()) return;
        if (!Cmd.Exists("socat")) Assert.Fail("this test needs socat (scripts/test.sh installs it)");

        using var daemon = _lab.StartDaemon("02:00:00:18:f7:02");
        _lab.HandTapToKernelWithEcho();
        var run = _lab.Start(DaemonTapLab.Dotnet, _lab.ConnectArgs(2, "160M", "--timeout", "120"));
        DaemonTapLab.WaitFor(() => _lab.Offloaded().Contains("198.18.247.2"), "the connection offloaded", 30);
        Thread.Sleep(500);

        Cmd.Run("ip", "-n", _lab.Namespace, "link", "set", _lab.Tap, "down");
        Thread.Sleep(2000);
        Assert.False(run.HasExited, "the transfer ended while the TAP was down");
        Cmd.Run("ip", "-n", _lab.Namespace, "link", "set", _lab.Tap, "up");

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
        Assert.Equal(1, Count(log, $"Link {_lab.Tap} is down"));
        Assert.Equal(1, Count(log, $"Link {_lab.Tap} is up again"));
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
}
