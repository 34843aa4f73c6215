namespace OffloadEmu.Daemon.Options;

/// <summary>The <c>Nic</c> section: what the emulated NIC is and reports.</summary>
public sealed class NicOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Nic";

    /// <summary>The NIC's own MAC (source of its frames); empty = the link device's MAC.</summary>
    public string MacAddress { get; set; } = "";

    /// <summary>The TCP chimney capabilities the NIC reports (chimney spec §6.9).</summary>
    public NicCapabilitiesOptions Capabilities { get; set; } = new();

    /// <summary>Engine loops (receive-side-scaling queues) connections are hashed to. Default 1.</summary>
    public int Queues { get; set; } = 1;
}
