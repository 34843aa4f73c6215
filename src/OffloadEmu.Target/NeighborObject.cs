using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;

namespace OffloadEmu.Target;

/// <summary>An offloaded neighbour: the link-layer identity frames are built with and the reachability clock of spec §6.4.</summary>
internal sealed class NeighborObject : OffloadObject
{
    public NeighborObject(ulong context, ulong handle, in NeighborConstState constState, in NeighborCachedState cached) : base(context, handle)
    {
        Const = constState;
        Cached = cached;
    }

    public override OffloadLayer Layer => OffloadLayer.Neighbor;

    public NeighborConstState Const { get; }

    public NeighborCachedState Cached { get; set; }

    /// <summary>Paths linked to this neighbour.</summary>
    public int Dependents { get; set; }

    /// <summary>NIC reachability time: the NIC clock (ticks) of the last forward progress (spec §6.4).</summary>
    public uint Nrt { get; set; }

    /// <summary>Host reachability time: NCT − HRD at offload or at the host's last answer (spec §6.4).</summary>
    public uint Hrt { get; set; }

    /// <summary>A NeighborReachabilityQuery indication is waiting for the host's answer.</summary>
    public bool QueryOutstanding { get; set; }
}
