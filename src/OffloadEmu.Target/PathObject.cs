using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;

namespace OffloadEmu.Target;

/// <summary>An offloaded path: source and destination IP, the path MTU, and the neighbour frames go to (spec §2).</summary>
internal sealed class PathObject : OffloadObject
{
    public PathObject(ulong context, ulong handle, in PathConstState constState, in PathCachedState cached, NeighborObject neighbor)
        : base(context, handle)
    {
        Const = constState;
        Cached = cached;
        Neighbor = neighbor;
    }

    public override OffloadLayer Layer => OffloadLayer.Path;

    public PathConstState Const { get; }

    public PathCachedState Cached { get; set; }

    /// <summary>The neighbour the path is linked to; update can relink it (spec §6.7).</summary>
    public NeighborObject Neighbor { get; set; }

    /// <summary>TCP connections on this path.</summary>
    public int Dependents { get; set; }

    public bool IsIpv6 => Const.IsIpv6;

    /// <summary>Invalid itself or through its neighbour.</summary>
    public bool EffectivelyInvalid => Invalid || Neighbor.Invalid;
}
