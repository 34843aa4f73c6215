namespace OffloadEmu.Chimney;

/// <summary>The neighbour events a target indicates with NdisMOffloadEventIndicate (INDICATE_OFFLOAD_EVENT).</summary>
/// <remarks>Chimney spec §1 and §6.4.</remarks>
public enum NeighborEventCode
{
    /// <summary>NeighborReachabilityInDoubt: reserved, not indicated by targets.</summary>
    InDoubt = 1,

    /// <summary>NeighborReachabilityQuery: the target doubts the neighbour; the host writes HostReachabilityDelta back (spec §6.4).</summary>
    Query = 2,
}
