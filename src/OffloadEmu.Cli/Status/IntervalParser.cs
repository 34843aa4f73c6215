using System.Globalization;

namespace OffloadEmu.Cli.Status;

/// <summary>Parses <c>--interval</c>: "1s", "500ms", "2" (seconds), "0.5s", "1m".</summary>
internal static class IntervalParser
{
    public static bool TryParse(string text, out TimeSpan interval)
    {
        interval = default;
        string t = text.Trim().ToLowerInvariant();
        double scale = 1;
        if (t.EndsWith("ms", StringComparison.Ordinal)) { scale = 0.001; t = t[..^2]; }
        else if (t.EndsWith('s')) t = t[..^1];
        else if (t.EndsWith('m')) { scale = 60; t = t[..^1]; }
        if (!double.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) || double.IsNaN(v)) return false;
        double seconds = v * scale;
        if (seconds is < 0.1 or > 3600) return false;
        interval = TimeSpan.FromSeconds(seconds);
        return true;
    }
}
