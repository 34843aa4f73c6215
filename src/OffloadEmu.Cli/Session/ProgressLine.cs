using System.Globalization;
using OffloadEmu.HostStack;
using Spectre.Console;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// The line shown while a transfer runs: a Spectre.Console live line when stdout is a terminal, otherwise one plain
/// line per second (interval figures, as iperf3 prints them); none with <c>--json</c>. It also samples where the
/// connection lives (<see cref="TransferMeter.Sample"/>) every 50 ms.
/// </summary>
internal sealed class ProgressLine
{
    private readonly TransferMeter _meter;
    private readonly TextWriter _stdout;
    private readonly bool _live;
    private readonly bool _quiet;

    public ProgressLine(TransferMeter meter, TextWriter stdout, bool json)
    {
        _meter = meter;
        _stdout = stdout;
        _quiet = json;
        // Live output only to the real console, and only when it is a terminal.
        _live = !json && ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
    }

    /// <summary>Runs until <paramref name="stop"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        if (_live)
        {
            await AnsiConsole.Live(LiveLine(0, 0, 1))
                .AutoClear(true)
                .StartAsync(async ctx =>
                {
                    long lastSent = 0, lastReceived = 0;
                    double lastAt = 0;
                    int tick = 0;
                    while (!stop.IsCancellationRequested)
                    {
                        await Delay(50, stop).ConfigureAwait(false);
                        _meter.Sample();
                        if (++tick % 5 != 0) continue;
                        double now = _meter.Elapsed;
                        long s = _meter.BytesSent, r = _meter.BytesReceived;
                        ctx.UpdateTarget(LiveLine(s - lastSent, r - lastReceived, now - lastAt));
                        (lastSent, lastReceived, lastAt) = (s, r, now);
                    }
                }).ConfigureAwait(false);
            return;
        }
        long prevSent = 0, prevReceived = 0;
        double prevAt = 0;
        int ticks = 0;
        while (!stop.IsCancellationRequested)
        {
            await Delay(50, stop).ConfigureAwait(false);
            _meter.Sample();
            if (_quiet || ++ticks % 20 != 0 || stop.IsCancellationRequested) continue;
            double now = _meter.Elapsed;
            long s = _meter.BytesSent, r = _meter.BytesReceived;
            _stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{prevAt,6:F2}-{now:F2} sec  ") + Line(s - prevSent, r - prevReceived, now - prevAt));
            _stdout.Flush();
            (prevSent, prevReceived, prevAt) = (s, r, now);
        }
    }

    // Two rows, each cropped to the console width rather than wrapped. Two, because Spectre.Console 0.49 redraws a live
    // display by moving the cursor up (rows - 1) with CSI n A, and terminals read CSI 0 A as one row up: a one-row
    // display climbs over the lines above it. Cropped, because a row wrapped by the terminal but not by Spectre would
    // leave its first part behind.
    private Rows LiveLine(long sentDelta, long receivedDelta, double seconds)
    {
        var socket = _meter.Socket;
        var (offloads, uploads) = socket?.OffloadCounts ?? (0, 0);
        string where = socket?.Location.ToString().ToLowerInvariant() ?? "connecting";
        string figures = string.Create(CultureInfo.InvariantCulture,
            $"{_meter.Elapsed,6:F1} s  sent {TransferSummary.FormatBytes(_meter.BytesSent)} ({Short(sentDelta, seconds)})  " +
            $"received {TransferSummary.FormatBytes(_meter.BytesReceived)} ({Short(receivedDelta, seconds)})");
        string state = $"         {where}, offloads {offloads}, uploads {uploads}";
        if (_meter.HandOverCycles > 0) state += $", {_meter.HandOverCycles} upload/re-offload cycles";
        return new Rows(Row(figures), Row(state));
    }

    private static Markup Row(string text)
    {
        int width = Math.Max(20, AnsiConsole.Profile.Width - 1);
        if (text.Length > width) text = text[..width];
        return new Markup(Markup.Escape(text));
    }

    private static string Short(long bytes, double seconds)
        => TransferSummary.FormatBitrate(TransferSummary.Bitrate(bytes, seconds)).Replace("bits/sec", "b/s", StringComparison.Ordinal);

    private string Line(long sentDelta, long receivedDelta, double seconds)
    {
        var socket = _meter.Socket;
        var (offloads, uploads) = socket?.OffloadCounts ?? (0, 0);
        string where = socket?.Location.ToString().ToLowerInvariant() ?? "connecting";
        return string.Create(CultureInfo.InvariantCulture,
            $"sent {TransferSummary.FormatBytes(_meter.BytesSent)} ({TransferSummary.FormatBitrate(TransferSummary.Bitrate(sentDelta, seconds))}), " +
            $"received {TransferSummary.FormatBytes(_meter.BytesReceived)} ({TransferSummary.FormatBitrate(TransferSummary.Bitrate(receivedDelta, seconds))}), " +
            $"{where}, offloads {offloads}, uploads {uploads}");
    }

    private static async Task Delay(int ms, CancellationToken stop)
    {
        try
        {
            await Task.Delay(ms, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>For the summary: how long the connection lived where.</summary>
    public static (double Host, double Offloaded, double HandOver) Lived(TransferMeter m)
        => (m.SecondsIn(ConnectionLocation.Host), m.SecondsIn(ConnectionLocation.Offloaded),
            m.SecondsIn(ConnectionLocation.Offloading) + m.SecondsIn(ConnectionLocation.Uploading));
}
