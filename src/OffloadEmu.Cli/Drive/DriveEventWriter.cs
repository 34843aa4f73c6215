using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;

namespace OffloadEmu.Cli.Drive;

/// <summary>
/// The one writer of the drive's stdout: every event is one JSON object on one line, written whole by a single pump
/// task. <see cref="Emit"/> never blocks (an unbounded queue), so target callbacks that report events are never held up
/// by a slow reader of stdout.
/// </summary>
internal sealed class DriveEventWriter : IAsyncDisposable
{
    private static readonly byte[] NewLine = "\n"u8.ToArray();
    private readonly Channel<byte[]> _lines = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Stream _output;
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly Task _pump;

    public DriveEventWriter(Stream output)
    {
        _output = output;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>Seconds since the drive started (monotonic): the <c>time</c> of every event.</summary>
    public double Now => Stopwatch.GetElapsedTime(_start).Ticks / (double)TimeSpan.TicksPerSecond;

    /// <summary>Queues one event line: <c>{"event":NAME,"id":ID,"time":T,...fields}</c>. <paramref name="idJson"/> is the
    /// request's id as it was written (a JSON number or string), or null for events no request asked for.</summary>
    public void Emit(string name, string? idJson, Action<Utf8JsonWriter>? fields = null)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("event", name);
            if (idJson is not null)
            {
                w.WritePropertyName("id");
                w.WriteRawValue(idJson, skipInputValidation: true);
            }
            w.WriteNumber("time", Math.Round(Now, 6));
            fields?.Invoke(w);
            w.WriteEndObject();
        }
        _lines.Writer.TryWrite(buffer.WrittenSpan.ToArray());
    }

    /// <summary>An <c>error</c> event echoing the request's id (null when it had none or it could not be read).</summary>
    public void Error(string? idJson, string message) => Emit("error", idJson ?? "null", w => w.WriteString("error", message));

    private async Task PumpAsync()
    {
        var reader = _lines.Reader;
        bool broken = false;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var line))
            {
                if (broken) continue;
                try
                {
                    await _output.WriteAsync(line).ConfigureAwait(false);
                    await _output.WriteAsync(NewLine).ConfigureAwait(false);
                }
                catch (IOException)
                {
                    broken = true; // the reader of stdout went away: drop the rest, the session ends on stdin EOF
                }
            }
            if (broken) continue;
            try
            {
                await _output.FlushAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                broken = true;
            }
        }
    }

    /// <summary>Writes everything queued, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _lines.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
        try
        {
            await _output.FlushAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
    }
}
