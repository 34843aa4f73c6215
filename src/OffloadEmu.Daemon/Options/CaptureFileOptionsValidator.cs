using Microsoft.Extensions.Options;
using OffloadEmu.Link.Capture;

namespace OffloadEmu.Daemon.Options;

/// <summary>Validates <see cref="CaptureFileOptions"/> (the file itself is opened by the link service at start).</summary>
internal sealed class CaptureFileOptionsValidator : IValidateOptions<CaptureFileOptions>
{
    public ValidateOptionsResult Validate(string? name, CaptureFileOptions o)
    {
        var f = new List<string>();
        if (!Enum.IsDefined(o.Format))
            f.Add($"Capture:Format: '{o.Format}' is not a capture format; use pcapng or pcap");
        if (o.File.Length > 0 && (string.IsNullOrWhiteSpace(o.File) || o.File.IndexOfAny(Path.GetInvalidPathChars()) >= 0 || o.File.EndsWith('/')))
            f.Add($"Capture:File: '{o.File}' is not a file path; give a path like out/offloademud.pcapng, or leave it empty for no capture");
        if (o.MaxFileBytes != 0 && o.MaxFileBytes < 64 * 1024)
            f.Add($"Capture:MaxFileBytes: {o.MaxFileBytes} is too small; use 0 (never rotate) or at least 65536");
        SettingChecks.Range(f, "Capture:FlushIntervalMilliseconds", o.FlushIntervalMilliseconds, 1, 60_000);
        SettingChecks.Range(f, "Capture:SnapLength", o.SnapLength, 64, 262_144);
        if (o.Format == CaptureFormat.Pcap && o.File.EndsWith(".pcapng", StringComparison.OrdinalIgnoreCase))
            f.Add($"Capture:Format: pcap does not match the file name '{o.File}'; set Capture:Format=pcapng or name the file .pcap");
        return f.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(f);
    }
}
