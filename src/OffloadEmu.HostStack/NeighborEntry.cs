using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>
/// A neighbour cache entry (ARP, or IPv6 neighbour discovery) and, once a connection through it is offloaded, the shared chimney neighbour object:
/// reference counted by its offloaded paths, never terminated while they exist (chimney spec §2).
/// </summary>
internal sealed class NeighborEntry(IpAddressValue address)
{
    public IpAddressValue Address { get; } = address;

    /// <summary>Resolved by neighbour discovery (RFC 4861) rather than ARP.</summary>
    public bool IsIpv6 => Address.IsIpv6;

    public MacAddress Mac { get; set; }

    public NeighborState State { get; set; } = NeighborState.Incomplete;

    public int RequestsSent { get; set; }

    public Instant NextRequestAt { get; set; } = Instant.MaxValue;

    public Instant ReachableUntil { get; set; }

    /// <summary>When the neighbour's reachability was last confirmed (an ARP answer, or the NIC's forward progress).</summary>
    public Instant ConfirmedAt { get; set; }

    /// <summary><see cref="ConfirmedAt"/> and <see cref="ReachableUntil"/> in microseconds, written by the engine and read
    /// by the neighbour reachability query on the completion thread (chimney spec §6.4). Until = 0: not reachable.</summary>
    public long ConfirmedAtMicros;
    public long ReachableUntilMicros;

    /// <summary>Reachability is being verified after the target's query found the entry stale: the NIC's own
    /// NicReachabilityDelta is asked first, then unicast ARP probes (RFC 1122 §2.3.2.1).</summary>
    public bool Verifying { get; set; }

    /// <summary>ARP requests go unicast to <see cref="Mac"/> (probes of a stale entry) rather than broadcast.</summary>
    public bool Probing { get; set; }

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

    /// <summary>Initiates in flight through this neighbour (it is not terminated meanwhile).</summary>
    public int InitiatesInFlight { get; set; }

    public bool HasMac => State is NeighborState.Reachable or NeighborState.Stale;

    public override string ToString() => $"neighbor {Address} {State} {Mac} {OffloadState} deps={Dependents}";
}
