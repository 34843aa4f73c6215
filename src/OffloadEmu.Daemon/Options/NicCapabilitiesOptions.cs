namespace OffloadEmu.Daemon.Options;

/// <summary>
/// <c>Nic:Capabilities</c>: the NDIS_TCP_CONNECTION_OFFLOAD the target reports to hosts.
/// </summary>
/// <remarks>Chimney spec §6.9 and §10 row 1: the host reads these, and one offload beyond
/// <see cref="Capacity"/> fails with OFFLOAD_TCP_ENTRIES.</remarks>
public sealed class NicCapabilitiesOptions
{
    /// <summary>SupportIPv4. Default true.</summary>
    public bool Ipv4 { get; set; } = true;

    /// <summary>SupportIPv6. Default true.</summary>
    public bool Ipv6 { get; set; } = true;

    /// <summary>SupportSack. Default true.</summary>
    public bool Sack { get; set; } = true;

    /// <summary>TcpConnectionOffloadCapacity: the most TCP connections offloaded at once. Default 1024.</summary>
    public int Capacity { get; set; } = 1024;

    /// <summary>Encapsulation: "Ieee8023", "LlcSnapRouted" or both comma-separated. Default "Ieee8023".</summary>
    public OffloadEncapsulation Encapsulation { get; set; } = OffloadEncapsulation.Ieee8023;
}
