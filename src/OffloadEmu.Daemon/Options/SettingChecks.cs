using OffloadEmu.Wire;

namespace OffloadEmu.Daemon.Options;

/// <summary>Shared checks of the validators. Each failure is one line: "Section:Key: what is wrong; how to fix it".</summary>
internal static class SettingChecks
{
    /// <summary>Linux IFNAMSIZ minus the terminating NUL.</summary>
    internal const int MaxInterfaceNameLength = 15;

    /// <summary>Validates a MAC setting: empty is allowed (meaning "derive"), otherwise a unicast aa:bb:cc:dd:ee:ff.</summary>
    internal static void MacAddress(List<string> failures, string key, string? value)
    {
        if (string.IsNullOrEmpty(value)) return;
        if (!Wire.MacAddress.TryParse(value, out var mac))
        {
            failures.Add($"{key}: '{value}' is not a MAC address; write it as aa:bb:cc:dd:ee:ff or leave it empty");
            return;
        }
        if (mac.IsMulticast || mac == Wire.MacAddress.Zero)
            failures.Add($"{key}: {value} is not a unicast address; clear the lowest bit of the first octet (e.g. 02:00:00:00:00:01)");
    }

    /// <summary>Validates an int setting against an inclusive range.</summary>
    internal static void Range(List<string> failures, string key, long value, long min, long max, string why = "")
    {
        if (value < min || value > max)
            failures.Add($"{key}: {value} is out of range; use {min}..{max}{why}");
    }

    /// <summary>The parsed MAC or null for empty (call after validation).</summary>
    internal static MacAddress? ParseMacOrNull(string? value)
        => string.IsNullOrEmpty(value) ? null : Wire.MacAddress.Parse(value);
}
