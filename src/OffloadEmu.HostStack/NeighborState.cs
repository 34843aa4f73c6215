namespace OffloadEmu.HostStack;

/// <summary>ARP resolution state of a neighbour cache entry.</summary>
public enum NeighborState
{
    /// <summary>Requests are being sent; no hardware address yet.</summary>
    Incomplete,

    /// <summary>Resolved and recently confirmed.</summary>
    Reachable,

    /// <summary>Resolved, but not confirmed within the reachable time; the next use asks again.</summary>
    Stale,

    /// <summary>No answer after the last request.</summary>
    Failed,
}
