namespace OffloadEmu.Daemon.Options;

/// <summary>The <c>Metrics</c> section.</summary>
public sealed class MetricsOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Metrics";

    /// <summary>Publish the offloademu.* instruments on Meter "OffloadEmu". Default true.</summary>
    public bool Enabled { get; set; } = true;
}
