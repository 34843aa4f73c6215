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

    /// <summary>What a terminate does with sends not yet acknowledged: <c>Return</c> them in the TCP block (default) or
    /// <c>Complete</c> them UPLOAD_IN_PROGRESS, the first with its acknowledged bytes (chimney spec §5; docs/target.md).</summary>
    public string TerminateSends { get; set; } = "Return";

    /// <summary>Microseconds the engine loop keeps polling after a round found nothing to do, before it sleeps; 0 = off
    /// (default). Lower request/response latency for a CPU kept busy (docs/configuration.md, docs/performance.md).</summary>
    public int BusyPollMicroseconds { get; set; }

    /// <summary>A transmit thread per link queue: the engine loop hands its frames to a thread that makes the device's send
    /// calls (the peer kernel's receive work inside a TAP write then runs beside the loop's TCP work). Default off
    /// (docs/configuration.md, docs/target.md "Transmit thread").</summary>
    public bool TransmitThread { get; set; }

    /// <summary>IEEE 802.1Q VLAN ids (1..4094) the NIC is a member of: a neighbour offloaded with one of them gets its
    /// frames tagged and only tagged frames of that VLAN reach its connections; another non-zero id is refused with
    /// NDIS_STATUS_OFFLOAD_VLAN_MISMATCH (chimney spec §2, §6.1). Empty (default): untagged only (VlanId 0).</summary>
    public List<int> VlanIds { get; set; } = [];

    /// <summary><see cref="TerminateSends"/> parsed (the validator has checked it).</summary>
    internal Target.TerminateSendDisposition ParsedTerminateSends()
        => Enum.Parse<Target.TerminateSendDisposition>(TerminateSends.Trim(), ignoreCase: true);
}
