using System.Globalization;
using System.Text;

namespace OffloadEmu.Link.Decorators;

/// <summary>
/// One direction's impairment in the netem grammar (tc-netem(8)), e.g.
/// <c>"delay 5ms 2ms loss 2% reorder 10% gap 3 duplicate 1% corrupt 0.5% rate 100mbit"</c>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>delay TIME [JITTER]</c>: hold each frame TIME ± a uniformly drawn JITTER (netem without a
/// distribution table). As in netem, jitter may reorder frames, because they leave by due time.
/// Times take <c>s</c>/<c>sec</c>, <c>ms</c>/<c>msec</c>, <c>us</c>/<c>usec</c>, <c>ns</c>; a bare number
/// means microseconds, as in tc.</item>
/// <item><c>loss P%</c>, <c>duplicate P%</c>, <c>corrupt P%</c>: independent per-frame chances. A duplicate
/// is delayed independently; corrupt flips one random bit after the 14-byte Ethernet header.</item>
/// <item><c>reorder P% [gap N]</c>: needs <c>delay</c>. netem's rule: after N-1 frames have been delayed,
/// each frame is sent at once (ahead of the delayed ones) with chance P, and the count restarts;
/// without <c>gap</c>, N is 1 (every frame has chance P of jumping ahead).</item>
/// <item><c>rate R</c>: serialise frames at R (bit, kbit, mbit, gbit, tbit, kibit, mibit, gibit;
/// bps, kbps, mbps, gbps are bytes per second; a bare number is bits per second): a frame leaves
/// no earlier than the previous one's departure plus its own size × 8 / R.</item>
/// </list>
/// Correlation arguments and distributions are not supported and are rejected by name.
/// </remarks>
public sealed record ImpairmentSpec
{
    /// <summary>No impairment.</summary>
    public static ImpairmentSpec None { get; } = new();

    /// <summary>Base delay.</summary>
    public TimeSpan Delay { get; init; }
    /// <summary>Jitter: the delay is drawn uniformly from [Delay − Jitter, Delay + Jitter] (never below 0).</summary>
    public TimeSpan Jitter { get; init; }
    /// <summary>Loss chance in percent.</summary>
    public double LossPercent { get; init; }
    /// <summary>Duplicate chance in percent.</summary>
    public double DuplicatePercent { get; init; }
    /// <summary>Corruption chance in percent.</summary>
    public double CorruptPercent { get; init; }
    /// <summary>Chance, in percent, that a reorder candidate is sent at once.</summary>
    public double ReorderPercent { get; init; }
    /// <summary>netem's gap: frames N-1 in a row are delayed before the next is a reorder candidate (1 when unset).</summary>
    public int ReorderGap { get; init; } = 1;
    /// <summary>Serialisation rate in bits per second (0 = unlimited).</summary>
    public long RateBitsPerSecond { get; init; }

    /// <summary>True when nothing is impaired.</summary>
    public bool IsNone => Delay == TimeSpan.Zero && Jitter == TimeSpan.Zero && LossPercent == 0 && DuplicatePercent == 0
                          && CorruptPercent == 0 && ReorderPercent == 0 && RateBitsPerSecond == 0;

    /// <summary>True when frames must be held in a queue (delay, jitter or rate).</summary>
    public bool HoldsFrames => Delay > TimeSpan.Zero || Jitter > TimeSpan.Zero || RateBitsPerSecond > 0;

    /// <summary>Parses the netem grammar; an empty string is <see cref="None"/>.</summary>
    /// <exception cref="FormatException">A token is unknown, misplaced or out of range; the message names it.</exception>
    public static ImpairmentSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var spec = new ImpairmentSpec();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int i = 0;
        while (i < tokens.Length)
        {
            string keyword = tokens[i].ToLowerInvariant();
            if (!seen.Add(keyword) && IsKeyword(keyword)) throw new FormatException($"'{tokens[i]}' is given twice in \"{text}\".");
            switch (keyword)
            {
                case "delay":
                    spec = spec with { Delay = ParseTime(Argument(tokens, i, "a time such as 10ms")) };
                    i += 2;
                    if (i < tokens.Length && !IsKeyword(tokens[i]))
                    {
                        spec = spec with { Jitter = ParseTime(tokens[i]) };
                        i++;
                        if (i < tokens.Length && !IsKeyword(tokens[i]))
                            throw new FormatException($"'{tokens[i]}' after delay jitter is not supported (correlation and distributions are not implemented).");
                    }
                    break;
                case "loss":
                    if (i + 1 < tokens.Length && tokens[i + 1] is "random" or "state" or "gemodel")
                    {
                        if (tokens[i + 1] != "random") throw new FormatException($"'{tokens[i + 1]}' after loss is not supported (only the random loss model); use 'loss P%'.");
                        i++;
                    }
                    spec = spec with { LossPercent = ParsePercent(Argument(tokens, i, "a percentage such as 2%")) };
                    i = SkipNoCorrelation(tokens, i + 2, "loss");
                    break;
                case "duplicate":
                    spec = spec with { DuplicatePercent = ParsePercent(Argument(tokens, i, "a percentage such as 1%")) };
                    i = SkipNoCorrelation(tokens, i + 2, "duplicate");
                    break;
                case "corrupt":
                    spec = spec with { CorruptPercent = ParsePercent(Argument(tokens, i, "a percentage such as 0.5%")) };
                    i = SkipNoCorrelation(tokens, i + 2, "corrupt");
                    break;
                case "reorder":
                    spec = spec with { ReorderPercent = ParsePercent(Argument(tokens, i, "a percentage such as 10%")) };
                    i += 2;
                    if (i < tokens.Length && tokens[i].Equals("gap", StringComparison.OrdinalIgnoreCase))
                    {
                        string gap = Argument(tokens, i, "a frame count such as 5");
                        if (!int.TryParse(gap, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1)
                            throw new FormatException($"'{gap}' is not a valid reorder gap (a whole number of frames, at least 1).");
                        spec = spec with { ReorderGap = n };
                        i += 2;
                    }
                    i = SkipNoCorrelation(tokens, i, "reorder");
                    break;
                case "rate":
                    spec = spec with { RateBitsPerSecond = ParseRate(Argument(tokens, i, "a rate such as 100mbit")) };
                    i += 2;
                    break;
                default:
                    throw new FormatException($"'{tokens[i]}' is not a netem keyword (expected delay, loss, duplicate, corrupt, reorder or rate).");
            }
        }
        if (spec.ReorderPercent > 0 && spec.Delay == TimeSpan.Zero)
            throw new FormatException("'reorder' needs 'delay': only a delayed frame can be overtaken.");
        return spec;
    }

    private static bool IsKeyword(string token)
        => token.ToLowerInvariant() is "delay" or "loss" or "duplicate" or "corrupt" or "reorder" or "rate";

    private static string Argument(string[] tokens, int keywordIndex, string expected)
    {
        if (keywordIndex + 1 >= tokens.Length || IsKeyword(tokens[keywordIndex + 1]))
            throw new FormatException($"'{tokens[keywordIndex]}' needs {expected}.");
        return tokens[keywordIndex + 1];
    }

    private static int SkipNoCorrelation(string[] tokens, int i, string keyword)
    {
        if (i < tokens.Length && !IsKeyword(tokens[i]))
            throw new FormatException($"'{tokens[i]}' after {keyword} is not supported (correlation is not implemented).");
        return i;
    }

    /// <summary>Parses a netem time: <c>10ms</c>, <c>1s</c>, <c>500us</c>, <c>2.5ms</c>; bare numbers are microseconds.</summary>
    public static TimeSpan ParseTime(string token)
    {
        var (number, unit) = Split(token);
        double seconds = unit.ToLowerInvariant() switch
        {
            "s" or "sec" or "secs" => 1,
            "ms" or "msec" or "msecs" => 1e-3,
            "" or "us" or "usec" or "usecs" => 1e-6,
            "ns" or "nsec" or "nsecs" => 1e-9,
            _ => throw new FormatException($"'{token}' has an unknown time unit '{unit}' (use s, ms, us or ns)."),
        };
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) || double.IsInfinity(v))
            throw new FormatException($"'{token}' is not a time such as 10ms, 1s or 500us.");
        double ticks = v * seconds * TimeSpan.TicksPerSecond;
        if (ticks > TimeSpan.FromDays(1).Ticks) throw new FormatException($"'{token}' is longer than a day.");
        return TimeSpan.FromTicks((long)Math.Round(ticks));
    }

    /// <summary>Parses a netem percentage: <c>2%</c>, <c>0.5%</c> (the % may be left out).</summary>
    public static double ParsePercent(string token)
    {
        string number = token.EndsWith('%') ? token[..^1] : token;
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) || v < 0 || v > 100)
            throw new FormatException($"'{token}' is not a percentage between 0% and 100%.");
        return v;
    }

    /// <summary>Parses a tc rate such as <c>100mbit</c>, <c>1gbit</c>, <c>500kbit</c> or <c>10mbps</c> into bits per second.</summary>
    public static long ParseRate(string token)
    {
        var (number, unit) = Split(token);
        double bits = unit.ToLowerInvariant() switch
        {
            "" or "bit" => 1,
            "kbit" => 1e3,
            "mbit" => 1e6,
            "gbit" => 1e9,
            "tbit" => 1e12,
            "kibit" => 1024.0,
            "mibit" => 1024.0 * 1024,
            "gibit" => 1024.0 * 1024 * 1024,
            "bps" => 8,
            "kbps" => 8e3,
            "mbps" => 8e6,
            "gbps" => 8e9,
            _ => throw new FormatException($"'{token}' has an unknown rate unit '{unit}' (use bit, kbit, mbit, gbit or bps, kbps, mbps, gbps)."),
        };
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) || v <= 0 || double.IsInfinity(v))
            throw new FormatException($"'{token}' is not a positive rate such as 100mbit.");
        double bps = v * bits;
        if (bps < 1 || bps > 1e15) throw new FormatException($"'{token}' is outside 1 bit/s .. 1 Pbit/s.");
        return (long)bps;
    }

    private static (string number, string unit) Split(string token)
    {
        int i = 0;
        while (i < token.Length && (char.IsAsciiDigit(token[i]) || token[i] == '.')) i++;
        if (i == 0) throw new FormatException($"'{token}' does not start with a number.");
        return (token[..i], token[i..]);
    }

    /// <summary>The spec in the netem grammar (parses back to an equal spec).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        if (Delay > TimeSpan.Zero || Jitter > TimeSpan.Zero)
        {
            sb.Append(inv, $"delay {Delay.Ticks / 10.0:0.###}us");
            if (Jitter > TimeSpan.Zero) sb.Append(inv, $" {Jitter.Ticks / 10.0:0.###}us");
        }
        if (LossPercent > 0) sb.Append(inv, $" loss {LossPercent:R}%");
        if (DuplicatePercent > 0) sb.Append(inv, $" duplicate {DuplicatePercent:R}%");
        if (CorruptPercent > 0) sb.Append(inv, $" corrupt {CorruptPercent:R}%");
        if (ReorderPercent > 0)
        {
            sb.Append(inv, $" reorder {ReorderPercent:R}%");
            if (ReorderGap > 1) sb.Append(inv, $" gap {ReorderGap}");
        }
        if (RateBitsPerSecond > 0) sb.Append(inv, $" rate {RateBitsPerSecond}bit");
        return sb.ToString().Trim();
    }
}
