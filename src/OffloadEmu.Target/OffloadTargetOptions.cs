using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Target;

/// <summary>What the emulated NIC offers and how it behaves where the chimney contract leaves the choice to the target.</summary>
/// <remarks>
/// Capacities are the initiate resource limits of spec §2 and §7 (OFFLOAD_TCP/PATH/NEIGHBOR_ENTRIES); the receive-window
/// and MTU limits produce OFFLOAD_TCP_RCV_WINDOW and the private OFFLOAD_PATH_MTU (spec §9.8). The daemon binds these
/// from <c>emulator.json</c> (section <c>Nic</c>).
/// </remarks>
public sealed record class OffloadTargetOptions
{
    /// <summary>Capabilities reported as both current and hardware capabilities (spec §6.9).</summary>
    public TcpConnectionOffloadCapabilities Capabilities { get; init; } = new()
    {
        TcpConnectionOffloadCapacity = 1024,
        SupportIPv4 = true,
        SupportIPv6 = true,
        SupportSack = true,
    };

    /// <summary>Offload parameters in force until the host sets its own (spec §6.9).</summary>
    public OffloadParameters Parameters { get; init; } = OffloadParameters.Default;

    /// <summary>The NIC's own MAC: source of its frames when a neighbour's DlSourceAddress is zero, and what
    /// <see cref="OffloadTarget.MacAddress"/> reports. Null = the link device's MAC.</summary>
    public MacAddress? MacAddress { get; init; }

    /// <summary>Path objects the NIC can hold (OFFLOAD_PATH_ENTRIES beyond it).</summary>
    public int PathCapacity { get; init; } = 1024;

    /// <summary>Neighbour objects the NIC can hold (OFFLOAD_NEIGHBOR_ENTRIES beyond it).</summary>
    public int NeighborCapacity { get; init; } = 256;

    /// <summary>Largest InitialRcvWnd / RcvWnd accepted at initiate (OFFLOAD_TCP_RCV_WINDOW beyond it), bytes.</summary>
    public uint MaxReceiveWindow { get; init; } = 16 * 1024 * 1024;

    /// <summary>Source MACs a neighbour's const <c>DlSourceAddress</c> may name besides the NIC's own (spec §2);
    /// others fail with OFFLOAD_HW_ADDRESS_ENTRIES.</summary>
    public IReadOnlyList<MacAddress> AdditionalSourceMacs { get; init; } = [];

    /// <summary>VLAN ids configured on the NIC; a neighbour with another non-zero VlanId fails with OFFLOAD_VLAN_MISMATCH (spec §6.5).</summary>
    public IReadOnlyList<ushort> VlanIds { get; init; } = [];

    /// <summary>Largest receive indication when the connection's RcvIndicationSize is 0 (spec §3), bytes.</summary>
    public int MaxIndicationSize { get; init; } = 256 * 1024;

    /// <summary>Upper bound of the send backlog the target asks for (spec §5), bytes.</summary>
    public uint MaxSendBacklog { get; init; } = 4 * 1024 * 1024;

    /// <summary>Shortest interval between two send-backlog-change events on one connection (spec §5: throttled).</summary>
    public TimeSpan SendBacklogEventInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Frames waiting between the device reader and the engine; beyond it frames are dropped and counted.</summary>
    public int ReceiveRingCapacity { get; init; } = 4096;

    /// <summary>Optional upload reasons the target asks for (spec §6.3); empty = none (the target keeps working).</summary>
    public IReadOnlySet<TcpUploadReason> OptionalRetrieveReasons { get; init; } = new HashSet<TcpUploadReason>();

    /// <summary>Out-of-order ranges held per connection before Retrieve(HighOutOfOrderPackets), when that reason is enabled.</summary>
    public int HighOutOfOrderThreshold { get; init; } = 8;

    /// <summary>Checks the values; returns the problems found (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>(Capabilities.Validate());
        errors.AddRange(Parameters.Validate());
        if (Capabilities.TcpConnectionOffloadCapacity == 0) errors.Add("TcpConnectionOffloadCapacity must be at least 1.");
        if (PathCapacity < 1) errors.Add($"{nameof(PathCapacity)} must be at least 1.");
        if (NeighborCapacity < 1) errors.Add($"{nameof(NeighborCapacity)} must be at least 1.");
        if (MaxReceiveWindow < 1024 || MaxReceiveWindow > (1u << 30)) errors.Add($"{nameof(MaxReceiveWindow)} must be 1024..2^30 bytes.");
        if (MaxIndicationSize < 1) errors.Add($"{nameof(MaxIndicationSize)} must be at least 1 byte.");
        if (ReceiveRingCapacity < 16) errors.Add($"{nameof(ReceiveRingCapacity)} must be at least 16.");
        foreach (var id in VlanIds)
            if (id is 0 or > NeighborConstState.MaxVlanId) errors.Add($"VLAN id {id} is not 1..{NeighborConstState.MaxVlanId}.");
        foreach (var reason in OptionalRetrieveReasons)
            if (reason.IsMandatory()) errors.Add($"{reason} is a mandatory upload reason, not an optional policy.");
        return errors;
    }
}
