using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OffloadEmu.Cli.Session;

/// <summary>The figures of a ping-pong run: round trips, time, and the sorted round-trip times (Stopwatch ticks).</summary>
internal sealed class PingPongResult(int roundTrips, double seconds, long[] sortedTicks)
{
    public int RoundTrips => roundTrips;

    /// <summary>The stack's offloaded send → completion times (the warm-up's included), when known.</summary>
    public OffloadEmu.HostStack.LatencyHistogram? SendCompletions { get; set; }

    public double Seconds => seconds;

    public double TransactionsPerSecond => seconds > 0 ? roundTrips / seconds : 0;

    /// <summary>The <paramref name="percent"/>th percentile round trip in microseconds (nearest rank).</summary>
    public double PercentileMicroseconds(double percent)
    {
        int rank = (int)Math.Ceiling(percent / 100 * sortedTicks.Length);
        long ticks = sortedTicks[Math.Clamp(rank - 1, 0, sortedTicks.Length - 1)];
        return ticks * 1e6 / Stopwatch.Frequency;
    }

    public string ToText(string command, string link, string local, string remote, string offload, int busyPollMicroseconds)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -");
        sb.AppendLine(ci, $"{command} {local} -> {remote} on {link}, offload {offload}, busy poll {busyPollMicroseconds} us");
        sb.AppendLine(ci, $"ping-pong: {RoundTrips} round trips of 1 byte in {Seconds:F3} s: {TransactionsPerSecond:F0} transactions/s");
        sb.AppendLine(ci, $"round trip us: p50 {PercentileMicroseconds(50):F1}  p90 {PercentileMicroseconds(90):F1}  p99 {PercentileMicroseconds(99):F1}  max {PercentileMicroseconds(100):F1}");
        if (SendCompletions is { Count: > 0 } h)
            sb.AppendLine(ci, $"offloaded send -> completion us: p50 {h.Percentile(0.50):F0}  p99 {h.Percentile(0.99):F0} ({h.Count} sends)");
        return sb.ToString();
    }

    public string ToJson(string command, string link, string local, string remote, string offload, int busyPollMicroseconds)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("command", command);
            w.WriteString("mode", "ping-pong");
            w.WriteString("link", link);
            w.WriteString("local", local);
            w.WriteString("remote", remote);
            w.WriteString("offload", offload);
            w.WriteNumber("busy_poll_us", busyPollMicroseconds);
            w.WriteNumber("round_trips", RoundTrips);
            w.WriteNumber("seconds", Math.Round(Seconds, 6));
            w.WriteNumber("transactions_per_second", Math.Round(TransactionsPerSecond, 1));
            w.WriteStartObject("round_trip_us");
            w.WriteNumber("p50", Math.Round(PercentileMicroseconds(50), 1));
            w.WriteNumber("p90", Math.Round(PercentileMicroseconds(90), 1));
            w.WriteNumber("p99", Math.Round(PercentileMicroseconds(99), 1));
            w.WriteNumber("max", Math.Round(PercentileMicroseconds(100), 1));
            w.WriteEndObject();
            if (SendCompletions is { } h)
            {
                w.WriteStartObject("send_completion_us");
                w.WriteNumber("count", h.Count);
                w.WriteNumber("p50", h.Percentile(0.50));
                w.WriteNumber("p99", h.Percentile(0.99));
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}
