using OffloadEmu.Chimney;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>
/// A neighbour cache entry (ARP) and, once a connection through it is offloaded, the shared chimney neighbour object:
/// reference counted by its offloaded paths, never terminated while they exist (chimney spec §2).
/// </summary>
internal sealed class NeighborEntry(Ipv4Address address)
{
    public Ipv4Address Address { get; } = address;

    public MacAddress Mac { get; set; }

    public NeighborState State { get; set; } = NeighborState.Incomplete;

    public int RequestsSent { get; set; }

    public Instant NextRequestAt { get; set; } = Instant.MaxValue;

    public Instant ReachableUntil { get; set; }

    /// <summary>Set from the engine, read by the neighbour reachability query on the completion thread.</summary>
    public volatile bool IsReachableForQuery;

    public List<TaskCompletionSource<MacAddress>> Waiters { get; } = [];

    public List<HostConnection> PendingConnects { get; } = [];

    // ---- chimney object ----
    public ObjectOffloadState OffloadState { get; set; }

    public OffloadContextSlot? Slot { get; set; }

    public ulong Handle { get; set; }

    /// <summary>The MAC the target's neighbour object has (set at initiate, changed by completed updates).</summary>
    public MacAddress OffloadedMac { get; set; }

    /// <summary>An UpdateOffload of this neighbour is in flight (one at a time per object, spec §6.7).</summary>
    public bool UpdateInFlight { get; set; }

    /// <summary>Offloaded paths depending on this neighbour.</summary>
    public int Dependents { get; set; }

    public bool HasMac => State is NeighborState.Reachable or NeighborState.Stale;

    public override string ToString() => $"neighbor {Address} {State} {Mac} {OffloadState} deps={Dependents}";
}
