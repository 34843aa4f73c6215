using System.Text;
using System.Text.Json;
using OffloadEmu.Cli.Drive;
using OffloadEmu.Control;
using OffloadEmu.Control.Server;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;

namespace OffloadEmu.Cli.Tests;

/// <summary>A drive session against an in-process control server (real target on a memory link, no privileges):
/// stdin EOF ends it with 0, bad lines never end it, the synthetic path goes through the contract.</summary>
public sealed class DriveSessionTests : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "oe-drvt-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly MemoryLink _nic;
    private readonly MemoryLink _peer;
    private readonly OffloadTarget _target;
    private readonly ControlServer _server;

    public DriveSessionTests()
    {
        Directory.CreateDirectory(_dir);
        MemoryLink.CreatePair(out _nic, out _peer);
        _target = new OffloadTarget(_nic);
        _server = new ControlServer(_target, new ControlServerOptions
        {
            Path = SocketPath,
            ParametersSource = () => new TargetParameters
            {
                Parameters = _target.CurrentParameters, MinRto = _target.CurrentTcpConfig.MinRto, MaxRto = _target.CurrentTcpConfig.MaxRto,
                FinWait2Timeout = _target.CurrentTcpConfig.FinWait2Timeout, ChallengeAckInterval = _target.CurrentTcpConfig.ChallengeAckInterval,
            },
        });
        _server.Start();
        _target.Start();
    }

    private string SocketPath => Path.Combine(_dir, "control.sock");

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _target.Dispose();
        _peer.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static async Task<(int Exit, JsonElement[] Events, string Stderr)> Run(string socket, params string[] lines)
    {
        var output = new CaptureStream();
        var stderr = new StringWriter();
        int exit;
        await using (var events = new DriveEventWriter(output))
        {
            var session = new DriveSession(socket, events, stderr);
            exit = await session.RunAsync(new SlowReader(lines, output)).WaitAsync(TimeSpan.FromSeconds(60));
        }
        var parsed = output.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();
        return (exit, parsed, stderr.ToString());
    }

    private static JsonElement Reply(JsonElement[] events, int id, string name)
    {
        var e = events.FirstOrDefault(e => e.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.Number && i.GetInt32() == id
            && e.GetProperty("event").GetString() == name);
        Assert.True(e.ValueKind == JsonValueKind.Object, $"no {name} for request {id} among:\n{string.Join('\n', events.Select(x => x.GetRawText()))}");
        return e;
    }

    [Fact]
    public async Task No_daemon_is_one_line_and_exit_1()
    {
        var (exit, events, stderr) = await Run(Path.Combine(_dir, "nobody.sock"), """{"id":1,"op":"bind"}""");
        Assert.Equal(1, exit);
        Assert.Empty(events);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith($"offloademu drive: --daemon {Path.Combine(_dir, "nobody.sock")}: no offloademud answers", lines[0]);
    }

    [Fact]
    public async Task Bad_lines_get_errors_and_stdin_EOF_ends_the_session_with_0()
    {
        var (exit, events, stderr) = await Run(SocketPath,
            """{"id":1,"op":"parameters"}""",
            """{"id":2,"op":"bind"}""",
            "garbage",
            """{"id":3,"op":"send","conn":42,"text":"x"}""",
            """{"id":4,"op":"terminate","conn":42}""",
            """{"id":5,"op":"parameters"}""",
            """{"id":6,"op":"connect","remote":"198.18.0.1:7"}""");
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Contains("not bound", Reply(events, 1, "error").GetProperty("error").GetString());
        Assert.Equal(_target.MacAddress.ToString(), Reply(events, 2, "bound").GetProperty("mac").GetString());
        Assert.Contains(events, e => e.GetProperty("event").GetString() == "error" && e.GetProperty("id").ValueKind == JsonValueKind.Null
            && e.GetProperty("error").GetString()!.StartsWith("malformed JSON", StringComparison.Ordinal));
        Assert.Equal("unknown conn 42", Reply(events, 3, "error").GetProperty("error").GetString());
        Assert.Equal("unknown conn 42", Reply(events, 4, "error").GetProperty("error").GetString());
        var p = Reply(events, 5, "parameters");
        Assert.Equal("SUCCESS", p.GetProperty("status").GetString());
        Assert.Equal((int)_target.CurrentParameters.TicksPerSecond, p.GetProperty("ticks_per_second").GetInt32());
        Assert.Equal(3000, p.GetProperty("challenge_ack_interval_ms").GetDouble());
        Assert.Contains("no host stack", Reply(events, 6, "error").GetProperty("error").GetString());
    }

    [Fact]
    public async Task Synthetic_offload_send_query_and_terminate_go_through_the_contract()
    {
        // Nobody answers on the peer side: the sent bytes stay unacknowledged and come back with the terminate.
        var (exit, events, stderr) = await Run(SocketPath,
            """{"id":1,"op":"bind"}""",
            """{"id":2,"op":"offload","remote_ip":"198.18.9.3","remote_mac":"02:00:00:00:09:03","local_ip":"198.18.9.2","const":{"local_port":5001,"remote_port":40001,"remote_mss":1460,"timestamps":true},"delegated":{"snd_una":4294967290,"rcv_nxt":1000,"snd_wnd":65535,"rcv_wnd":65535,"ts_recent":77}}""",
            "WAIT offloaded",
            """{"id":3,"op":"send","conn":1,"text":"0123456789"}""",
            "SLEEP 300",
            """{"id":4,"op":"query","conn":1}""",
            "WAIT queried",
            """{"id":5,"op":"update","conn":1,"cached":{"ttl":32,"initial_rcv_wnd":65535}}""",
            "WAIT updated",
            """{"id":6,"op":"terminate","conn":1}""",
            "WAIT terminated",
            """{"id":7,"op":"send","conn":1,"text":"x"}""");
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        var off = Reply(events, 2, "offloaded");
        Assert.Equal(1, off.GetProperty("conn").GetInt32());
        Assert.Equal(JsonValueKind.Number, off.GetProperty("ts_time").ValueKind);
        var q = Reply(events, 4, "queried").GetProperty("delegated");
        Assert.Equal(4294967290u, q.GetProperty("snd_una").GetUInt32());
        Assert.Equal(4u, q.GetProperty("snd_nxt").GetUInt32()); // 10 bytes sent across the wrap
        Assert.Equal(1000u, q.GetProperty("rcv_nxt").GetUInt32());
        Assert.Equal(77u, q.GetProperty("ts_recent").GetUInt32());
        Assert.Equal("SUCCESS", Reply(events, 5, "updated").GetProperty("status").GetString());
        var t = Reply(events, 6, "terminated");
        Assert.Equal("SUCCESS", t.GetProperty("status").GetString());
        Assert.Equal(10, t.GetProperty("send_data_returned").GetInt32());
        Assert.Equal(4u, t.GetProperty("delegated").GetProperty("snd_nxt").GetUInt32());
        Assert.Contains("terminated, not offloaded", Reply(events, 7, "error").GetProperty("error").GetString());
        Assert.Equal(0, _target.ConnectionCount);
    }

    [Fact]
    public async Task A_post_receive_completion_is_read_from_before_its_advanced_data_start()
    {
        // The drive forwards a segment of the peer's (spec §4) into a synthetic offload holding two push-mode posts: the
        // target places its 11 bytes in the first, advances the NB past them (spec §3), and `read` returns exactly those
        // bytes, not what follows the new data start.
        const string segment = "9c411389000003e8fffffffa5018ffff00000000" + "68656c6c6f20776f726c64"; // "hello world", ACK|PSH
        var (exit, events, stderr) = await Run(SocketPath,
            """{"id":1,"op":"bind"}""",
            """{"id":2,"op":"offload","remote_ip":"198.18.9.3","remote_mac":"02:00:00:00:09:03","local_ip":"198.18.9.2","const":{"local_port":5001,"remote_port":40001,"remote_mss":1460},"delegated":{"snd_una":4294967290,"rcv_nxt":1000,"snd_wnd":65535,"rcv_wnd":65535}}""",
            "WAIT offloaded",
            """{"id":3,"op":"post_receive","conn":1,"size":64}""",
            """{"id":4,"op":"post_receive","conn":1,"size":64}""",
            $$"""{"id":5,"op":"forward","conn":1,"hex":"{{segment}}"}""",
            "WAIT receive_complete",
            "SLEEP 100",
            """{"id":6,"op":"read","conn":1}""",
            "WAIT data");
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Equal("SUCCESS", Reply(events, 5, "forward_complete").GetProperty("status").GetString());
        var done = Reply(events, 3, "receive_complete");
        Assert.Equal("SUCCESS", done.GetProperty("status").GetString());
        Assert.Equal(11, done.GetProperty("bytes").GetInt32());
        var data = Reply(events, 6, "data");
        Assert.Equal("hello world", Encoding.ASCII.GetString(Convert.FromBase64String(data.GetProperty("base64").GetString()!)));
    }

    /// <summary>Lines for the session; "WAIT name" (until an event of that name was written) and "SLEEP ms" pace the
    /// script, as a test script waits for events.</summary>
    private sealed class SlowReader(string[] lines, CaptureStream output) : TextReader
    {
        private int _next;

        public override async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            while (_next < lines.Length)
            {
                string line = lines[_next++];
                if (line.StartsWith("SLEEP ", StringComparison.Ordinal)) await Task.Delay(int.Parse(line[6..]), cancellationToken);
                else if (line.StartsWith("WAIT ", StringComparison.Ordinal))
                {
                    string needle = $"\"event\":\"{line[5..]}\"";
                    var deadline = DateTime.UtcNow.AddSeconds(20);
                    while (!output.Text.Contains(needle, StringComparison.Ordinal) && DateTime.UtcNow < deadline) await Task.Delay(10, cancellationToken);
                }
                else return line;
            }
            return null;
        }

        public override Task<string?> ReadLineAsync() => ReadLineAsync(CancellationToken.None).AsTask();
    }

    /// <summary>What the drive wrote, readable while it writes.</summary>
    private sealed class CaptureStream : Stream
    {
        private readonly Lock _gate = new();
        private readonly MemoryStream _bytes = new();

        public string Text
        {
            get
            {
                lock (_gate) return Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length);
            }
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_gate) _bytes.Write(buffer, offset, count);
        }
    }
}
