namespace OffloadEmu.Chimney;

/// <summary>What state follows an offload block (OFFLOAD_STATE_TYPE, the block list's Header.Type).</summary>
/// <remarks>
/// Chimney spec §2: per layer Const, Cached, Delegated and "All" (const + cached + delegated in sequence). Values are
/// the NDIS ones; 16 (TcpOffloadResourceState) is reserved and unused. The path family is part of the type (Ip4 /
/// Ip6). See <see cref="OffloadBlockTypeExtensions"/> for the layer and the state classes a type carries.
/// </remarks>
public enum OffloadBlockType
{
    /// <summary>Neighbour const state.</summary>
    NeighborOffloadConstState = 1,

    /// <summary>Neighbour cached state.</summary>
    NeighborOffloadCachedState = 2,

    /// <summary>Neighbour delegated state.</summary>
    NeighborOffloadDelegatedState = 3,

    /// <summary>All neighbour state (const, cached, delegated).</summary>
    NeighborOffloadState = 4,

    /// <summary>IPv4 path const state.</summary>
    Ip4OffloadConstState = 5,

    /// <summary>IPv4 path cached state.</summary>
    Ip4OffloadCachedState = 6,

    /// <summary>IPv4 path delegated state.</summary>
    Ip4OffloadDelegatedState = 7,

    /// <summary>All IPv4 path state.</summary>
    Ip4OffloadState = 8,

    /// <summary>IPv6 path const state.</summary>
    Ip6OffloadConstState = 9,

    /// <summary>IPv6 path cached state.</summary>
    Ip6OffloadCachedState = 10,

    /// <summary>IPv6 path delegated state.</summary>
    Ip6OffloadDelegatedState = 11,

    /// <summary>All IPv6 path state.</summary>
    Ip6OffloadState = 12,

    /// <summary>TCP const state.</summary>
    TcpOffloadConstState = 13,

    /// <summary>TCP cached state.</summary>
    TcpOffloadCachedState = 14,

    /// <summary>TCP delegated state.</summary>
    TcpOffloadDelegatedState = 15,

    /// <summary>Reserved by NDIS, never used.</summary>
    TcpOffloadResourceState = 16,

    /// <summary>All TCP state.</summary>
    TcpOffloadState = 17,
}
