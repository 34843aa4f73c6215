namespace OffloadEmu.Daemon.Options;

/// <summary>The <c>Impairment</c> section: a user-mode netem between the wire and the NIC.</summary>
public sealed class ImpairmentOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Impairment";

    /// <summary>Impairment of received frames in the netem grammar (e.g. "delay 5ms loss 1%"); empty = none.</summary>
    public string Ingress { get; set; } = "";

    /// <summary>Impairment of sent frames in the netem grammar; empty = none.</summary>
    public string Egress { get; set; } = "";

    /// <summary>Seed of the impairment's random decisions (same seed, same frames, same decisions). Default 0.</summary>
    public ulong Seed { get; set; }
}
