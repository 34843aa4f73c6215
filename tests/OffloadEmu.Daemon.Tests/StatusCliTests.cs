using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// `offloademu status` and `offloademu stats` against the real offloademud process (memory link, its own control socket):
/// an idle daemon, a connection offloaded by an `offloademu drive` session showing the sequence numbers it was given,
/// `stats --watch --json` ended by SIGINT, no daemon, and the daemon lost during a watch. Also Control:Group.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class StatusCliTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Socket => _dir.File("control.sock");

    private DaemonProcess StartDaemon(params string[] args)
    {
        _dir.Write("emulator.json", TestConfig.MemoryJson);
        var daemon = DaemonProcess.Start(_dir.Path, args);
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end)
        {
            // Ready when a status answers (the socket file appears before the server listens).
            var (code, _, _) = Run("status", "--daemon", Socket, "--json");
            if (code == 0) return daemon;
            Thread.Sleep(200);
        }
        daemon.Dispose();
        Assert.Fail($"offloademud did not serve {Socket} in time:\n{daemon.Stderr}");
        return null!;
    }

    [Fact]
    public void Status_of_an_idle_daemon_shows_the_link_no_session_and_no_connection()
    {
        using var daemon = StartDaemon();
        var (code, stdout, stderr) = Run("status", "--daemon", Socket, "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal("SUCCESS", root.GetProperty("status").GetString());
        Assert.Equal("memory", root.GetProperty("link").GetProperty("kind").GetString());
        Assert.Equal("mem0", root.GetProperty("link").GetProperty("interface").GetString());
        Assert.Equal(1500, root.GetProperty("link").GetProperty("mtu").GetInt32());
        Assert.Equal(0, root.GetProperty("sessions").GetArrayLength()); // the status tool itself is a monitor, not listed
        Assert.Equal(0, root.GetProperty("connections_total").GetInt32());
        Assert.True(root.GetProperty("uptime_s").GetDouble() > 0);
        Assert.Equal(1000u, root.GetProperty("parameters").GetProperty("ticks_per_second").GetUInt32());
        Assert.False(root.GetProperty("target").TryGetProperty("loops", out _));   // one loop: the output as before

        (code, stdout, stderr) = Run("status", "--daemon", Socket);
        Assert.True(code == 0, stderr);
        Assert.Contains("link      memory mem0, mac ", stdout, StringComparison.Ordinal);
        Assert.Contains("sessions  0: none bound", stdout, StringComparison.Ordinal);
        Assert.Contains("no offloaded connections", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void With_Nic_Queues_2_status_and_stats_show_each_loop_and_the_one_device_queue_they_share()
    {
        // A memory link has one queue: two loops share it (docs/configuration.md, Nic:Queues).
        using var daemon = StartDaemon("--Nic:Queues=2");
        using var drive = Offloademu.Start("drive", "--daemon", Socket);
        drive.WriteLine("""{"id":1,"op":"bind"}""");
        drive.WriteLine("""{"id":2,"op":"offload","remote_ip":"198.18.252.3","remote_mac":"02:00:00:18:fc:03","local_ip":"198.18.252.2","const":{"local_port":5001,"remote_port":40001,"remote_mss":1460},"delegated":{"snd_una":1000,"rcv_nxt":2000,"snd_wnd":65536,"rcv_wnd":65536}}""");
        Assert.True(drive.WaitForOutput("\"event\":\"offloaded\"", Wait), drive.Stdout + drive.Stderr);

        var (code, stdout, stderr) = Run("status", "--daemon", Socket, "--json");
        Assert.True(code == 0, stderr);
        using (var json = JsonDocument.Parse(stdout))
        {
            var target = json.RootElement.GetProperty("target");
            Assert.Equal(1, target.GetProperty("device_queues").GetInt32());
            var loops = target.GetProperty("loops").EnumerateArray().ToList();
            Assert.Equal(2, loops.Count);
            Assert.Equal([0, 1], loops.Select(l => l.GetProperty("loop").GetInt32()));
            Assert.Equal(1, loops.Sum(l => l.GetProperty("connections").GetInt32()));   // the drive session's one, on its owner
            Assert.All(loops, l => Assert.Equal(0, l.GetProperty("hand_off_drops").GetInt64()));
        }

        (code, stdout, stderr) = Run("status", "--daemon", Socket);
        Assert.True(code == 0, stderr);
        Assert.Contains("loops     2 engine loops over one device queue, shared", stdout, StringComparison.Ordinal);
        Assert.Matches(@"loop 0\s+\d connections, frames in \d+, out \d+, handed off \d+ \(0 dropped\)", stdout);
        Assert.Contains("loop 1 ", stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = Run("stats", "--daemon", Socket, "--json");
        Assert.True(code == 0, stderr);
        using (var json = JsonDocument.Parse(stdout.Trim()))
        {
            var counters = json.RootElement.GetProperty("counters");
            foreach (var name in new[] { "connections", "frames_in", "frames_out", "handed_off", "hand_off_drops" })
            {
                Assert.True(counters.TryGetProperty($"loop0.{name}", out _), name);
                Assert.True(counters.TryGetProperty($"loop1.{name}", out _), name);
            }
            Assert.Equal(1, counters.GetProperty("loop0.connections").GetInt32() + counters.GetProperty("loop1.connections").GetInt32());
            Assert.True(counters.TryGetProperty("link.frames_in", out _));   // everything a single-loop daemon shows is still there
        }
    }

    [Fact]
    public void Status_shows_a_connection_offloaded_by_a_drive_session_with_the_sequence_numbers_it_was_given()
    {
        using var daemon = StartDaemon();
        using var drive = Offloademu.Start("drive", "--daemon", Socket);
        drive.WriteLine("""{"id":1,"op":"bind"}""");
        drive.WriteLine("""{"id":2,"op":"offload","remote_ip":"198.18.252.3","remote_mac":"02:00:00:18:fc:03","local_ip":"198.18.252.2","const":{"local_port":5001,"remote_port":40001,"remote_mss":1460,"timestamps":true,"sack":true,"snd_wind_scale":7,"rcv_wind_scale":6},"delegated":{"snd_una":4294967280,"rcv_nxt":305419896,"snd_wnd":65536,"rcv_wnd":65536,"ts_recent":3000000000}}""");
        Assert.True(drive.WaitForOutput("\"event\":\"offloaded\"", Wait), drive.Stdout + drive.Stderr);

        var (code, stdout, stderr) = Run("status", "--daemon", Socket, "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        var session = Assert.Single(root.GetProperty("sessions").EnumerateArray());
        Assert.Equal($"offloademu drive pid {drive.Id}", session.GetProperty("name").GetString());
        Assert.Equal(3, session.GetProperty("objects").GetInt32()); // neighbour, path, connection
        Assert.Equal(1, root.GetProperty("connections_total").GetInt32());
        var c = Assert.Single(root.GetProperty("connections").EnumerateArray());
        Assert.Equal("198.18.252.2:5001", c.GetProperty("local").GetString());
        Assert.Equal("198.18.252.3:40001", c.GetProperty("remote").GetString());
        Assert.Equal("Established", c.GetProperty("state").GetString());
        Assert.Equal(4294967280u, c.GetProperty("snd_una").GetUInt32());
        Assert.Equal(4294967280u, c.GetProperty("snd_nxt").GetUInt32());
        Assert.Equal(305419896u, c.GetProperty("rcv_nxt").GetUInt32());
        Assert.Equal(65536u, c.GetProperty("snd_wnd").GetUInt32());
        Assert.Equal(session.GetProperty("id").GetUInt64(), c.GetProperty("session").GetUInt64());
        Assert.Equal(1UL, root.GetProperty("statistics").GetProperty("ipv4").GetProperty("tcp").GetProperty("currently_established").GetUInt64());

        (code, stdout, stderr) = Run("status", "--daemon", Socket);
        Assert.True(code == 0, stderr);
        Assert.Contains("offloaded connections: 1", stdout, StringComparison.Ordinal);
        Assert.Matches(@"Established\s+198\.18\.252\.2:5001\s+198\.18\.252\.3:40001\s+session #\d+ 'offloademu drive pid", stdout);
        Assert.Contains("snd_una 4294967280 snd_nxt 4294967280", stdout, StringComparison.Ordinal);
        Assert.Contains("rcv_nxt 305419896", stdout, StringComparison.Ordinal);

        drive.CloseInput();
        Assert.Equal(0, drive.WaitForExit(Wait));
    }

    [Fact]
    public void Stats_watch_json_prints_a_line_per_interval_with_rates_and_exits_0_on_SIGINT()
    {
        using var daemon = StartDaemon();
        using var stats = Offloademu.Start("stats", "--daemon", Socket, "--watch", "--json", "--interval", "200ms");
        Assert.True(stats.WaitForLines(4, Wait), stats.Stdout + stats.Stderr);
        Assert.Equal(0, Kill(stats.Id, 2)); // SIGINT, as Ctrl-C
        Assert.Equal(0, stats.WaitForExit(Wait));
        Assert.Equal("", stats.Stderr);
        var lines = stats.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 4);
        double lastUptime = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            using var json = JsonDocument.Parse(lines[i]);
            var root = json.RootElement;
            Assert.Equal(0UL, root.GetProperty("counters").GetProperty("connections").GetUInt64());
            Assert.True(root.TryGetProperty("counters", out var counters) && counters.TryGetProperty("ipv4.tcp.in_segments", out _));
            Assert.Equal(i > 0, root.TryGetProperty("rates", out _)); // rates from the second sample on
            double uptime = root.GetProperty("uptime_s").GetDouble();
            Assert.True(uptime > lastUptime);
            // The samples keep a fixed schedule: after one that came late under load the next comes early (0.04 s was
            // seen at load 15); the rates are over the measured interval, which must be positive and bounded.
            if (i > 0) Assert.InRange(root.GetProperty("interval_s").GetDouble(), 0.001, 5);
            lastUptime = uptime;
        }
    }

    [Theory]
    [InlineData("status")]
    [InlineData("stats")]
    public void No_daemon_on_the_socket_is_one_line_naming_it_and_exit_1(string command)
    {
        var (code, stdout, stderr) = Run(command, "--daemon", Socket);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"offloademu {command}: no offloademud answers on {Socket} (no socket file there); start it (offloademud, or systemctl start offloademud) "
            + "or give its socket with --daemon SOCKET (Control:Endpoint)", line);
    }

    [Fact]
    public void Losing_the_daemon_during_a_watch_is_one_line_and_exit_1()
    {
        var daemon = StartDaemon();
        using var stats = Offloademu.Start("stats", "--daemon", Socket, "--watch", "--interval", "200ms");
        try
        {
            Assert.True(stats.WaitForOutput("ipv4.tcp.in_segments", Wait), stats.Stdout + stats.Stderr);
            daemon.Terminate();
            Assert.Equal(0, daemon.WaitForExit(Wait));
        }
        finally
        {
            daemon.Dispose();
        }
        Assert.Equal(1, stats.WaitForExit(Wait));
        string line = Assert.Single(stats.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"offloademu stats: lost the daemon on {Socket} (", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_control_socket_is_mode_0660_and_belongs_to_Control_Group()
    {
        // An existing group other than ours (no group is created or removed by the test).
        string group = File.ReadAllLines("/etc/group").Select(l => l.Split(':')).Where(f => f.Length >= 3 && f[2] != "0")
            .Select(f => f[0]).OrderBy(n => n is "daemon" or "nogroup" ? 0 : 1).First();
        using var host = TestConfig.Build(_dir, TestConfig.MemoryJson, ["--Control:Group=" + group]);
        await host.StartAsync();
        try
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, File.GetUnixFileMode(Socket));
            Assert.Equal(group, Cmd.Run("stat", "-c", "%G", Socket).Trim());
        }
        finally
        {
            await host.StopAsync();
        }
        Assert.False(File.Exists(Socket));
    }

    [Fact]
    public void An_unknown_Control_Group_fails_the_start_with_one_line_naming_the_setting()
    {
        var (code, lines) = TestConfig.RunFailing(_dir, TestConfig.MemoryJson, "--Control:Group=oe-t-nosuchgrp");
        Assert.Equal(Hosting.ExitCodes.Configuration, code);
        Assert.Equal("offloademud: Control:Group: no group 'oe-t-nosuchgrp' on this system; create it (groupadd oe-t-nosuchgrp), "
            + "name an existing group (see /etc/group) or leave it empty", Assert.Single(lines));
        Assert.False(File.Exists(Socket));
    }

    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var p = Offloademu.Start(args);
        p.CloseInput();
        int code = p.WaitForExit(Wait);
        return (code, p.Stdout, p.Stderr);
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>The built offloademu (referenced, so its dll sits beside the tests) run by dotnet; ended by PID only.</summary>
    private sealed class Offloademu : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _stdout = new();
        private readonly StringBuilder _stderr = new();
        private int _lines;

        private Offloademu(Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (_stdout)
                {
                    _stdout.AppendLine(e.Data);
                    _lines++;
                }
            };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public static Offloademu Start(params string[] args)
        {
            string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
            var psi = new ProcessStartInfo(dotnet)
            {
                RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
            };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "offloademu.dll"));
            foreach (var a in args) psi.ArgumentList.Add(a);
            return new Offloademu(Process.Start(psi) ?? throw new InvalidOperationException("cannot start offloademu"));
        }

        public int Id => _process.Id;

        public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

        public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

        public void WriteLine(string line)
        {
            _process.StandardInput.WriteLine(line);
            _process.StandardInput.Flush();
        }

        public void CloseInput() => _process.StandardInput.Close();

        public bool WaitForOutput(string text, TimeSpan timeout) => WaitUntil(() => Stdout.Contains(text, StringComparison.Ordinal), timeout);

        public bool WaitForLines(int count, TimeSpan timeout) => WaitUntil(() => { lock (_stdout) return _lines >= count; }, timeout);

        private bool WaitUntil(Func<bool> done, TimeSpan timeout)
        {
            var end = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < end && !done() && !_process.HasExited) Thread.Sleep(20);
            return done();
        }

        public int WaitForExit(TimeSpan timeout)
        {
            if (!_process.WaitForExit(timeout)) Assert.Fail($"offloademu did not exit within {timeout}; stdout:\n{Stdout}\nstderr:\n{Stderr}");
            _process.WaitForExit();
            return _process.ExitCode;
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();   // this PID only
                _process.WaitForExit(5000);
            }
            _process.Dispose();
        }
    }
}
