using System.Text;
using System.Threading.Channels;
using OffloadEmu.Cli.Drive;
using OffloadEmu.Control.Server;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;

namespace OffloadEmu.Cli.Tests;

/// <summary>The daemon going away during a drive session is fatal: an error event, one stderr line, exit 1, even
/// while stdin stays open.</summary>
public sealed class DriveDaemonLossTests
{
    [Fact]
    public async Task Losing_the_daemon_mid_session_is_an_error_event_one_line_and_exit_1()
    {
        string dir = Path.Combine(Path.GetTempPath(), "oe-drvl-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        string socket = Path.Combine(dir, "control.sock");
        MemoryLink.CreatePair(out var nic, out var peer);
        using var target = new OffloadTarget(nic);
        var server = new ControlServer(target, new ControlServerOptions { Path = socket });
        try
        {
            server.Start();
            target.Start();
            var output = new MemoryStream();
            var stderr = new StringWriter();
            var lines = Channel.CreateUnbounded<string>();
            int exit;
            var seen = new TaskCompletionSource();
            await using (var events = new DriveEventWriter(new NotifyingStream(output, seen)))
            {
                var run = new DriveSession(socket, events, stderr).RunAsync(new ChannelLineReader(lines.Reader));
                lines.Writer.TryWrite("""{"id":1,"op":"bind"}""");
                await seen.Task.WaitAsync(TimeSpan.FromSeconds(20)); // the bound event was written
                await server.DisposeAsync(); // the daemon goes away; stdin stays open
                exit = await run.WaitAsync(TimeSpan.FromSeconds(30));
            }
            Assert.Equal(1, exit);
            var stderrLines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Single(stderrLines);
            Assert.StartsWith($"offloademu drive: --daemon {socket}: lost the daemon", stderrLines[0]);
            string text = Encoding.UTF8.GetString(output.ToArray());
            Assert.Contains("\"event\":\"bound\"", text);
            Assert.Contains("\"event\":\"error\",\"id\":null", text);
            Assert.Contains("lost the daemon", text);
        }
        finally
        {
            await server.DisposeAsync();
            peer.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class ChannelLineReader(ChannelReader<string> lines) : TextReader
    {
        public override async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
            => await lines.WaitToReadAsync(cancellationToken) && lines.TryRead(out var line) ? line : null;

        public override Task<string?> ReadLineAsync() => ReadLineAsync(CancellationToken.None).AsTask();
    }

    /// <summary>Signals after the first write (the pump writes the bound event first).</summary>
    private sealed class NotifyingStream(MemoryStream inner, TaskCompletionSource firstWrite) : Stream
    {
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
            lock (inner) inner.Write(buffer, offset, count);
            firstWrite.TrySetResult();
        }
    }
}
