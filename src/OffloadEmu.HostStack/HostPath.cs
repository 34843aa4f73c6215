using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>
/// The path to one destination, and its shared chimney path object: reference counted by the offloaded TCP
/// connections on it, never terminated while they exist (chimney spec §2).
/// </summary>
internal sealed class HostPath(IpAddressValue destination, NeighborEntry neighbor, uint pathMtu)
{
    public IpAddressValue Destination { get; } = destination;

    /// <summary>The chimney block type of this path object (Ip4 or Ip6, spec §2).</summary>
    public OffloadBlockType BlockType => Destination.IsIpv6 ? OffloadBlockType.Ip6OffloadState : OffloadBlockType.Ip4OffloadState;

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

    /// <summary>Initiates in flight that offload or link this path (it is not terminated meanwhile).</summary>
    public int InitiatesInFlight { get; set; }

    public override string ToString() => $"path {Destination} {OffloadState} deps={Dependents}";
}
