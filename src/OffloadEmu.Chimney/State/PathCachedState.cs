namespace OffloadEmu.Chimney.State;

/// <summary>The cached variables of an offloaded IP path (PATH_OFFLOAD_STATE_CACHED).</summary>
/// <remarks>
/// Chimney spec §2 and §6.7: host-owned, changed only by Update (after an ICMP "fragmentation needed" / "packet too
/// big"), not returned at terminate. A PathMtu the target cannot handle fails the initiate with OFFLOAD_PATH_MTU
/// (spec §9.8).
/// </remarks>
public readonly record struct PathCachedState
{
    /// <summary>Path MTU in bytes (IP header included); segments are at most PathMtu minus the IP and TCP headers (spec §5).</summary>
    public uint PathMtu { get; init; }
}
