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

    private int _queryOutstanding;

    /// <summary>A NeighborReachabilityQuery indication is waiting for the host's answer.</summary>
    /// <remarks>A neighbour is shared by the connections of every engine loop: the flag is claimed atomically so two loops
    /// never ask at once. <see cref="Nrt"/> and <see cref="Hrt"/> are single words any loop may store a current tick in.</remarks>
    public bool QueryOutstanding => Volatile.Read(ref _queryOutstanding) != 0;

    /// <summary>Claims the one outstanding query; false when one is already out.</summary>
    public bool TryBeginQuery() => Interlocked.CompareExchange(ref _queryOutstanding, 1, 0) == 0;

    /// <summary>The host answered.</summary>
    public void EndQuery() => Volatile.Write(ref _queryOutstanding, 0);
}
