using OffloadEmu.Chimney;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>
/// The path to one destination, and its shared chimney path object: reference counted by the offloaded TCP
/// connections on it, never terminated while they exist (chimney spec §2).
/// </summary>
internal sealed class HostPath(Ipv4Address destination, NeighborEntry neighbor, uint pathMtu)
{
    public Ipv4Address Destination { get; } = destination;

    public NeighborEntry Neighbor { get; } = neighbor;

    public uint PathMtu { get; set; } = pathMtu;

    public ObjectOffloadState OffloadState { get; set; }

    public OffloadContextSlot? Slot { get; set; }

    public ulong Handle { get; set; }

    /// <summary>The PathMtu the target's path object has (set at initiate, changed by completed updates).</summary>
    public uint OffloadedMtu { get; set; }

    /// <summary>An UpdateOffload of this path is in flight (one at a time per object, spec §6.7).</summary>
    public bool UpdateInFlight { get; set; }

    /// <summary>Offloaded TCP connections on this path.</summary>
    public int Dependents { get; set; }

    public override string ToString() => $"path {Destination} {OffloadState} deps={Dependents}";
}
