namespace OffloadEmu.Chimney;

/// <summary>The three layers of offloaded state; dependents run neighbour, then path, then TCP.</summary>
/// <remarks>Chimney spec §2.</remarks>
public enum OffloadLayer
{
    /// <summary>Neighbour (link-layer next hop).</summary>
    Neighbor = 1,

    /// <summary>IP path (source/destination address pair).</summary>
    Path = 2,

    /// <summary>TCP connection.</summary>
    Tcp = 3,
}
