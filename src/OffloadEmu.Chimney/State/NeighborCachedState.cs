using OffloadEmu.Wire;

namespace OffloadEmu.Chimney.State;

/// <summary>The cached variables of an offloaded neighbour (NEIGHBOR_OFFLOAD_STATE_CACHED).</summary>
/// <remarks>
/// Chimney spec §2: cached state is owned by the host and changed only through Update (spec §6.7); it is not
/// returned at terminate. Reachability deltas are in ticks of <see cref="OffloadParameters.TicksPerSecond"/> on
/// the NIC clock, compared modulo 2^32 (spec §6.4).
/// </remarks>
public readonly record struct NeighborCachedState
{
    /// <summary>Destination MAC address of frames sent to this neighbour (updated after ARP/ND, spec §6.7).</summary>
    public MacAddress DlDestinationAddress { get; init; }

    /// <summary>
    /// Host reachability delta (HRD), in ticks: how long ago the host last confirmed the neighbour reachable.
    /// The target keeps HRT = NCT - HRD; the host writes 0 back from a reachability query when its own entry is
    /// stale (spec §6.4).
    /// </summary>
    public uint HostReachabilityDelta { get; init; }
}
