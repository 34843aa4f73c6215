namespace OffloadEmu.Chimney.State;

/// <summary>The delegated variables of an offloaded neighbour (NEIGHBOR_OFFLOAD_STATE_DELEGATED).</summary>
/// <remarks>
/// Chimney spec §2 and §6.4: the host sets the initial value (at offload HRD = NRD), then the target owns it and
/// returns it by Query and Terminate, and with a neighbour reachability query (spec §9.6: all three structures).
/// </remarks>
public readonly record struct NeighborDelegatedState
{
    /// <summary>
    /// NIC reachability delta (NRD), in ticks: NCT - NRT, how long ago the target last saw forward progress to this
    /// neighbour (spec §6.4).
    /// </summary>
    public uint NicReachabilityDelta { get; init; }
}
