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
            await AnsiConsole.Live(new Markup(Markup.Escape(Line(0, 0, 1))))
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
                        ctx.UpdateTarget(new Markup(Markup.Escape(Line(s - lastSent, r - lastReceived, now - lastAt))));
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
            _stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{prevAt,6:F2}-{now,-6:F2} sec  ") + Line(s - prevSent, r - prevReceived, now - prevAt));
            _stdout.Flush();
            (prevSent, prevReceived, prevAt) = (s, r, now);
        }
    }

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
