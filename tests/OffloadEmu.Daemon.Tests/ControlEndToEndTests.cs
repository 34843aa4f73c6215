using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using OffloadEmu.Link.Capture;
using Xunit.Abstractions;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// The lab end to end (issue 6): offloademud on a TAP, <c>offloademu connect --daemon</c> bound to it over the control
/// socket, 100 MiB to the kernel's echo server with an upload (terminate, then initiate again) every 10 MiB, SHA-256 of
/// both directions equal, and the daemon's capture opened by tshark with scripts/wireshark/offloademu.lua showing the
/// chimney calls next to the TCP frames. As in <see cref="TapEndToEndTests"/>: the daemon attaches a TAP made in the
/// root namespace, which is then moved into our own namespace oe-ctlcap&lt;random&gt;&lt;pid&gt; where the kernel has
/// 198.18.249.1/24 and socat echoes; addresses only from 198.18.0.0/15, no route out; the namespace, the TAP and every
/// process (by PID) are removed at the end.
/// </summary>
[Trait("Category", "Privileged")]
public sealed partial class ControlEndToEndTests : IDisposable
{
    private const long Total = 100L << 20;
    private const long UploadEvery = 10L << 20;
    private readonly ITestOutputHelper _output;
    private readonly DaemonTapLab _lab = new("oe-ctlcap", "oecc", 249);

    public ControlEndToEndTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _lab.Dispose();

    [Fact]
    public void Connect_through_the_daemon_echoes_100_MiB_with_an_upload_every_10_MiB_and_the_capture_shows_the_chimney_calls()
    {
        if (!Privileged.ShouldRun()) return;
        if (!Cmd.Exists("socat")) Assert.Fail("this test needs socat (scripts/test.sh installs it)");
        var clock = Stopwatch.StartNew();

        string capture = _lab.Dir.File("daemon.pcapng");
        string socket = _lab.Socket;
        // Headers only (SnapLength 128): 100 MiB each way stays a small file; control messages are cut by the daemon.
        using var daemon = _lab.StartDaemon("02:00:00:18:f9:02", $$"""{ "File": "{{capture}}", "Format": "pcapng", "SnapLength": 128 }""");
        _lab.HandTapToKernelWithEcho();
        string dotnet = DaemonTapLab.Dotnet;
        string cli = DaemonTapLab.Cli;
        var transfer = Stopwatch.StartNew();
        var run = Cmd.TryRun(dotnet, [cli, "connect", "198.18.249.1:7", "--daemon", socket, "--local", "198.18.249.2/24",
            "--echo-check", "--send-bytes", Total.ToString(), "--upload-every", UploadEvery.ToString(), "--offload", "immediate",
            "--json", "--timeout", "45", "--arp-tries", "10"], environment: null, timeoutMilliseconds: 50_000);
        transfer.Stop();
        _output.WriteLine($"connect: {transfer.Elapsed.TotalSeconds:F1} s\nstdout:\n{run.Stdout}\nstderr:\n{run.Stderr}");
        Assert.True(run.Code == 0, $"offloademu connect exit {run.Code}: {run.Stderr}\n{run.Stdout}\ndaemon:\n{daemon.Stdout}");
        Assert.Equal("", run.Stderr);
        using (var doc = JsonDocument.Parse(run.Stdout.Trim()))
        {
            var j = doc.RootElement;
            Assert.Equal(Total, j.GetProperty("bytes_sent").GetInt64());
            Assert.Equal(Total, j.GetProperty("bytes_received").GetInt64());
            var check = j.GetProperty("echo_check");
            Assert.True(check.GetProperty("ok").GetBoolean());
            Assert.Equal(check.GetProperty("sha256_sent").GetString(), check.GetProperty("sha256_received").GetString());
            Assert.Equal(9, j.GetProperty("upload_cycles").GetInt32());
            Assert.True(j.GetProperty("uploads").GetInt32() >= 9, $"uploads {j.GetProperty("uploads")}");
            Assert.True(j.GetProperty("offloads").GetInt32() >= 10, $"offloads {j.GetProperty("offloads")}");
            Assert.Equal(JsonValueKind.Null, j.GetProperty("error").ValueKind);
        }

        daemon.Terminate();
        Assert.Equal("STOPPING=1", _lab.Notify!.Receive());
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal("", daemon.Stderr);
        Assert.Contains("Control capture closed", daemon.Stdout);
        Assert.Matches(@"Control capture closed: \d+ messages written, 0 dropped", daemon.Stdout);

        // The capture: the TAP's frames and the control messages, both interfaces.
        var reader = CaptureReader.Open(capture);
        int frames = 0, control = 0;
        while (reader.TryRead(out var frame))
        {
            if (frame.Interface.LinkType == 252) control++;
            else frames++;
        }
        Assert.Equal([_lab.Tap, "offloademu-control"], reader.Interfaces.Select(i => i.Name));
        Assert.True(frames > 2 * (Total / 1448), $"{frames} wire frames");
        Assert.True(control > 2 * (Total / 65536), $"{control} control messages");

        // tshark with the dissector: the chimney calls of every hand-over, the TCP frames of the connection.
        string script = Path.Combine(RepoRoot(), "scripts", "wireshark", "offloademu.lua");
        var tshark = Stopwatch.StartNew();
        string calls = Cmd.Run("tshark", "-X", "lua_script:" + script, "-r", capture, "-n", "-Y", "offloademu", "-T", "fields", "-e", "_ws.col.Info");
        var lines = calls.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(control, lines.Length);
        Assert.DoesNotContain(lines, l => l.Contains("Lua Error", StringComparison.Ordinal) || l.Contains("Malformed", StringComparison.Ordinal));
        var initiates = lines.Where(l => l.StartsWith("C->S InitiateOffload", StringComparison.Ordinal)).ToList();
        Assert.True(initiates.Count >= 10, $"{initiates.Count} InitiateOffload");
        Assert.True(lines.Count(l => l.StartsWith("S->C StateComplete", StringComparison.Ordinal) && l.Contains(" Initiate", StringComparison.Ordinal)) >= 10,
            string.Join('\n', lines.Where(l => l.Contains("StateComplete", StringComparison.Ordinal))));
        Assert.True(lines.Count(l => l.StartsWith("C->S TerminateOffload", StringComparison.Ordinal)) >= 9);
        Assert.Contains(lines, l => l.StartsWith("C->S TcpSend ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("S->C TcpSendComplete", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("S->C ReceiveIndicate", StringComparison.Ordinal));
        string tcp = Cmd.Run("tshark", "-r", capture, "-n", "-Y", "tcp.port == 7 && tcp.len > 0", "-T", "fields", "-e", "frame.number");
        Assert.True(tcp.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length > Total / 1448, "the TCP data frames");

        // One offloaded period by its connection handle: its initiate, sends and indications, its terminate.
        string handle = InitiateHandle().Match(initiates[3]).Groups[1].Value;
        var one = Cmd.Run("tshark", "-X", "lua_script:" + script, "-r", capture, "-n", "-Y", $"offloademu.handle == 0x{handle}", "-T", "fields", "-e", "_ws.col.Info")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(one, l => l.StartsWith("C->S InitiateOffload", StringComparison.Ordinal));
        Assert.Single(one, l => l.StartsWith("C->S TerminateOffload", StringComparison.Ordinal));
        Assert.Contains(one, l => l.StartsWith("C->S TcpSend ", StringComparison.Ordinal));
        Assert.Contains(one, l => l.StartsWith("S->C ReceiveIndicate", StringComparison.Ordinal));
        tshark.Stop();

        // offloademu decode reads the same file: a summary line per control message.
        var decode = Cmd.TryRun(dotnet, [cli, "decode", "-r", capture, "-c", "2000"], environment: null, timeoutMilliseconds: 30_000);
        Assert.True(decode.Code == 0, decode.Stderr);
        Assert.Contains(" control session ", decode.Stdout);
        Assert.Contains("C->S InitiateOffload id=", decode.Stdout);

        _output.WriteLine($"{frames} frames, {control} control messages, {new FileInfo(capture).Length >> 20} MiB capture; " +
            $"transfer {transfer.Elapsed.TotalSeconds:F1} s, tshark {tshark.Elapsed.TotalSeconds:F1} s, total {clock.Elapsed.TotalSeconds:F1} s");
    }

    [GeneratedRegex(@"C->S InitiateOffload id=\d+ handle=0x([0-9a-f]+)")]
    private static partial Regex InitiateHandle();

    private static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "OffloadEmu.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("repository root not found");
    }
}
