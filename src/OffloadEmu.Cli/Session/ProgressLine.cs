using System.Diagnostics;
using System.Globalization;
using OffloadEmu.HostStack;
using Spectre.Console;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// The line shown while a transfer runs: a Spectre.Console live line when stdout is a terminal, otherwise one plain
/// line per second (interval figures, as iperf3 prints them); none with <c>--json</c>. It also samples where the
/// connection lives (<see cref="TransferMeter.Sample"/>) every 50 ms. With several streams (<c>connect --parallel N</c>)
/// the plain output is one line per stream, prefixed <c>[ 1]</c>, and a <c>[SUM]</c> line each second; the live
/// display shows the sum and how many streams are where.
/// </summary>
internal sealed class ProgressLine
{
    private readonly TransferMeter _meter;
    private readonly IReadOnlyList<TransferMeter> _streams;
    private readonly Stopwatch? _runClock;
    private readonly TextWriter _stdout;
    private readonly bool _live;
    private readonly bool _quiet;

    public ProgressLine(TransferMeter meter, TextWriter stdout, bool json)
        : this([meter], null, stdout, json)
    {
    }

    /// <summary>Several streams of one run; <paramref name="runClock"/> (the run's time, started with the first stream)
    /// is the SUM line's clock.</summary>
    public ProgressLine(IReadOnlyList<TransferMeter> streams, Stopwatch? runClock, TextWriter stdout, bool json)
    {
        _meter = streams[0];
        _streams = streams;
        _runClock = runClock;
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
                        SampleAll();
                        if (++tick % 5 != 0) continue;
                        double now = Now;
                        var (s, r) = Totals();
                        ctx.UpdateTarget(_streams.Count == 1 ? LiveLine(s - lastSent, r - lastReceived, now - lastAt) : LiveSum(s - lastSent, r - lastReceived, now - lastAt));
                        (lastSent, lastReceived, lastAt) = (s, r, now);
                    }
                }).ConfigureAwait(false);
            return;
        }
        if (_streams.Count > 1)
        {
            await PlainStreamsAsync(stop).ConfigureAwait(false);
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
            _stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{prevAt,6:F2}-{now:F2} sec  ") + Line(_meter, s - prevSent, r - prevReceived, now - prevAt));
            _stdout.Flush();
            (prevSent, prevReceived, prevAt) = (s, r, now);
        }
    }

    // Plain lines for several streams: per stream, then the sum, every second (iperf3 -P's interval block).
    private async Task PlainStreamsAsync(CancellationToken stop)
    {
        int n = _streams.Count;
        var prevSent = new long[n];
        var prevReceived = new long[n];
        var prevAt = new double[n];
        long sumSent = 0, sumReceived = 0;
        double sumAt = 0;
        int ticks = 0;
        var ci = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        while (!stop.IsCancellationRequested)
        {
            await Delay(50, stop).ConfigureAwait(false);
            SampleAll();
            if (_quiet || ++ticks % 20 != 0 || stop.IsCancellationRequested) continue;
            sb.Clear();
            for (int i = 0; i < n; i++)
            {
                var m = _streams[i];
                if (m.Finished) continue;
                double at = m.Elapsed;
                long s = m.BytesSent, r = m.BytesReceived;
                sb.Append(TransferSummary.StreamTag(i + 1)).Append(ci, $"{prevAt[i],6:F2}-{at:F2} sec  ")
                    .AppendLine(Line(m, s - prevSent[i], r - prevReceived[i], at - prevAt[i]));
                (prevSent[i], prevReceived[i], prevAt[i]) = (s, r, at);
            }
            double now = Now;
            var (ts, tr) = Totals();
            var (offloads, uploads) = OffloadTotals();
            sb.Append(ci, $"[SUM] {sumAt,6:F2}-{now:F2} sec  ")
                .Append(ci, $"sent {TransferSummary.FormatBytes(ts)} ({TransferSummary.FormatBitrate(TransferSummary.Bitrate(ts - sumSent, now - sumAt))}), ")
                .Append(ci, $"received {TransferSummary.FormatBytes(tr)} ({TransferSummary.FormatBitrate(TransferSummary.Bitrate(tr - sumReceived, now - sumAt))}), ")
                .AppendLine(ci, $"{Offloaded()} of {n} offloaded, offloads {offloads}, uploads {uploads}");
            _stdout.Write(sb.ToString());
            _stdout.Flush();
            (sumSent, sumReceived, sumAt) = (ts, tr, now);
        }
    }

    private double Now => _runClock?.Elapsed.TotalSeconds ?? _meter.Elapsed;

    private void SampleAll()
    {
        foreach (var m in _streams) m.Sample();
    }

    private (long Sent, long Received) Totals()
    {
        long s = 0, r = 0;
        foreach (var m in _streams)
        {
            s += m.BytesSent;
            r += m.BytesReceived;
        }
        return (s, r);
    }

    private (int Offloads, int Uploads) OffloadTotals()
    {
        int o = 0, u = 0;
        foreach (var m in _streams)
        {
            var (a, b) = m.Socket?.OffloadCounts ?? (0, 0);
            o += a;
            u += b;
        }
        return (o, u);
    }

    private int Offloaded()
    {
        int k = 0;
        foreach (var m in _streams) if (m.Socket?.Location == ConnectionLocation.Offloaded) k++;
        return k;
    }

    private Rows LiveSum(long sentDelta, long receivedDelta, double seconds)
    {
        var (s, r) = Totals();
        var (offloads, uploads) = OffloadTotals();
        string figures = string.Create(CultureInfo.InvariantCulture,
            $"{Now,6:F1} s  [SUM] sent {TransferSummary.FormatBytes(s)} ({Short(sentDelta, seconds)})  " +
            $"received {TransferSummary.FormatBytes(r)} ({Short(receivedDelta, seconds)})");
        string state = string.Create(CultureInfo.InvariantCulture,
            $"         {_streams.Count} streams, {Offloaded()} offloaded, offloads {offloads}, uploads {uploads}");
        return new Rows(Row(figures), Row(state));
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

    private static string Line(TransferMeter meter, long sentDelta, long receivedDelta, double seconds)
    {
        var socket = meter.Socket;
        var (offloads, uploads) = socket?.OffloadCounts ?? (0, 0);
        string where = socket?.Location.ToString().ToLowerInvariant() ?? "connecting";
        return string.Create(CultureInfo.InvariantCulture,
            $"sent {TransferSummary.FormatBytes(meter.BytesSent)} ({TransferSummary.FormatBitrate(TransferSummary.Bitrate(sentDelta, seconds))}), " +
            $"received {TransferSummary.FormatBytes(meter.BytesReceived)} ({TransferSummary.FormatBitrate(TransferSummary.Bitrate(receivedDelta, seconds))}), " +
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
