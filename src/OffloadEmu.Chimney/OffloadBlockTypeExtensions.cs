namespace OffloadEmu.Chimney;

/// <summary>Decodes an <see cref="OffloadBlockType"/> into layer, address family and state classes.</summary>
/// <remarks>Chimney spec §2: the types run in groups of four per layer (Const, Cached, Delegated, All).</remarks>
public static class OffloadBlockTypeExtensions
{
    /// <summary>The layer the block belongs to.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined block type.</exception>
    public static OffloadLayer GetLayer(this OffloadBlockType type) => (int)type switch
    {
        >= 1 and <= 4 => OffloadLayer.Neighbor,
        >= 5 and <= 12 => OffloadLayer.Path,
        >= 13 and <= 17 => OffloadLayer.Tcp,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not an offload block type (1-17)."),
    };

    /// <summary>True for the IPv6 path types (9-12).</summary>
    public static bool IsIpv6Path(this OffloadBlockType type) => type is >= OffloadBlockType.Ip6OffloadConstState and <= OffloadBlockType.Ip6OffloadState;

    /// <summary>The state structures that follow a block of this type.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined block type.</exception>
    public static OffloadStateClasses GetStateClasses(this OffloadBlockType type)
    {
        if (type == OffloadBlockType.TcpOffloadResourceState) return OffloadStateClasses.None;
        if (type == OffloadBlockType.TcpOffloadState) return OffloadStateClasses.All;
        int n = (int)type;
        if (n is < 1 or > 15)
            throw new ArgumentOutOfRangeException(nameof(type), type, "Not an offload block type (1-17).");
        // Position inside the group of four: Const, Cached, Delegated, All.
        return ((n - 1) % 4) switch
        {
            0 => OffloadStateClasses.Const,
            1 => OffloadStateClasses.Cached,
            2 => OffloadStateClasses.Delegated,
            _ => OffloadStateClasses.All,
        };
    }

    /// <summary>The "All" block type of a layer; <paramref name="ipv6"/> picks the path family.</summary>
    public static OffloadBlockType AllStateType(OffloadLayer layer, bool ipv6 = false) => layer switch
    {
        OffloadLayer.Neighbor => OffloadBlockType.NeighborOffloadState,
        OffloadLayer.Path => ipv6 ? OffloadBlockType.Ip6OffloadState : OffloadBlockType.Ip4OffloadState,
        OffloadLayer.Tcp => OffloadBlockType.TcpOffloadState,
        _ => throw new ArgumentOutOfRangeException(nameof(layer), layer, "Unknown offload layer."),
    };
}
