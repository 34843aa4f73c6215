using OffloadEmu.Chimney.State;

namespace OffloadEmu.Chimney;

/// <summary>
/// One node of an offload state tree (NDIS_MINIPORT_OFFLOAD_BLOCK_LIST): a neighbour, path or TCP object, its links to
/// the next object of the same layer and to its dependents, its completion status, its references, and the state
/// structures that follow it.
/// </summary>
/// <remarks>
/// <para>
/// Chimney spec §2. Every state operation (initiate, update, invalidate, query, terminate) takes a tree of blocks; the
/// target keeps the tree until completion, writes <see cref="Status"/> in every block (placeholders too) and hands back
/// the same root. <see cref="Role"/> reads the context slot as the spec's placeholder / linker / new offload table.
/// Which of the nine state properties are meaningful follows from <see cref="Type"/> (its layer and state classes);
/// the others stay null. <see cref="OffloadTree"/> walks a tree in the mandated order.
/// </para>
/// <para>Not thread-safe: one owner at a time, the requester until the call and the target until completion.</para>
/// </remarks>
public sealed class OffloadBlock
{
    /// <summary>Creates a block of <paramref name="type"/> with no links, no slot and status SUCCESS.</summary>
    public OffloadBlock(OffloadBlockType type) => Type = type;

    /// <summary>What state follows the block (Header.Type).</summary>
    public OffloadBlockType Type { get; set; }

    /// <summary>Next block of the same layer under the same parent, or null.</summary>
    public OffloadBlock? NextBlock { get; set; }

    /// <summary>First block of the layer below that depends on this object (neighbour → path → TCP), or null.</summary>
    public OffloadBlock? DependentBlockList { get; set; }

    /// <summary>Completion status the target writes before completing the operation.</summary>
    public NdisStatus Status { get; set; }

    /// <summary>
    /// The host's context slot (MiniportOffloadContext): null = placeholder; a slot holding a context = linker (or, outside
    /// initiate, the object the operation addresses); an empty slot = new offload, filled by the target on success.
    /// </summary>
    public OffloadContextSlot? MiniportOffloadContext { get; set; }

    /// <summary>The host's opaque handle of the object (NdisOffloadHandle); the target returns it in every indication.</summary>
    public ulong NdisOffloadHandle { get; set; }

    /// <summary>Reserved for an intermediate driver's per-operation entry while the tree passes through it (spec §1).</summary>
    public object? ImReserved { get; set; }

    /// <summary>Handle of the driver that issued the tree (SourceHandle); the target must not touch it.</summary>
    public ulong SourceHandle { get; set; }

    /// <summary>Target's area while it owns the block (MiniportReserved).</summary>
    public object? MiniportReserved { get; set; }

    /// <summary>Target's scratch area while it owns the block (Scratch).</summary>
    public object? Scratch { get; set; }

    /// <summary>NDIS port the object belongs to (PortNumber); 0 = the default port.</summary>
    public uint PortNumber { get; set; }

    /// <summary>
    /// TCP blocks: outstanding send data handed over at initiate or back at terminate (one NB per NBL), or null.
    /// NBLs of a TCP block that fails to offload are neither modified nor completed (spec §2, §5).
    /// </summary>
    public NetBufferList? NetBufferListChain { get; set; }

    /// <summary>Neighbour const state, when <see cref="Type"/> carries it.</summary>
    public NeighborConstState? NeighborConst { get; set; }

    /// <summary>Neighbour cached state, when <see cref="Type"/> carries it.</summary>
    public NeighborCachedState? NeighborCached { get; set; }

    /// <summary>Neighbour delegated state, when <see cref="Type"/> carries it.</summary>
    public NeighborDelegatedState? NeighborDelegated { get; set; }

    /// <summary>Path const state, when <see cref="Type"/> carries it.</summary>
    public PathConstState? PathConst { get; set; }

    /// <summary>Path cached state, when <see cref="Type"/> carries it.</summary>
    public PathCachedState? PathCached { get; set; }

    /// <summary>Path delegated state, when <see cref="Type"/> carries it.</summary>
    public PathDelegatedState? PathDelegated { get; set; }

    /// <summary>TCP const state, when <see cref="Type"/> carries it.</summary>
    public TcpConstState? TcpConst { get; set; }

    /// <summary>TCP cached state, when <see cref="Type"/> carries it.</summary>
    public TcpCachedState? TcpCached { get; set; }

    /// <summary>TCP delegated state, when <see cref="Type"/> carries it (the target fills it at query and terminate).</summary>
    public TcpDelegatedState? TcpDelegated { get; set; }

    /// <summary>The layer of the object, from <see cref="Type"/>.</summary>
    public OffloadLayer Layer => Type.GetLayer();

    /// <summary>Placeholder, linker or new offload, read from <see cref="MiniportOffloadContext"/> (spec §2 table).</summary>
    public OffloadBlockRole Role => MiniportOffloadContext switch
    {
        null => OffloadBlockRole.Placeholder,
        { HasContext: true } => OffloadBlockRole.Linker,
        _ => OffloadBlockRole.NewOffload,
    };

    /// <summary>Appends <paramref name="dependent"/> (and its next chain) at the end of <see cref="DependentBlockList"/>; returns this block.</summary>
    public OffloadBlock AddDependent(OffloadBlock dependent)
    {
        ArgumentNullException.ThrowIfNull(dependent);
        if (DependentBlockList is null)
        {
            DependentBlockList = dependent;
        }
        else
        {
            var last = DependentBlockList;
            while (last.NextBlock is not null) last = last.NextBlock;
            last.NextBlock = dependent;
        }
        return this;
    }

    /// <summary>
    /// Checks that the state structures <see cref="Type"/> says follow the block are present, of the block's layer, and
    /// (for paths) of the type's IP family; returns an error message, or null when consistent.
    /// </summary>
    /// <remarks>Only meaningful for blocks that carry state (new offloads, update, query, terminate).</remarks>
    public string? ValidateState()
    {
        OffloadStateClasses classes = Type.GetStateClasses();
        bool c = classes.HasFlag(OffloadStateClasses.Const);
        bool k = classes.HasFlag(OffloadStateClasses.Cached);
        bool d = classes.HasFlag(OffloadStateClasses.Delegated);
        switch (Layer)
        {
            case OffloadLayer.Neighbor:
                if (c && NeighborConst is null) return Missing(nameof(NeighborConst));
                if (k && NeighborCached is null) return Missing(nameof(NeighborCached));
                if (d && NeighborDelegated is null) return Missing(nameof(NeighborDelegated));
                break;
            case OffloadLayer.Path:
                if (c && PathConst is null) return Missing(nameof(PathConst));
                if (k && PathCached is null) return Missing(nameof(PathCached));
                if (d && PathDelegated is null) return Missing(nameof(PathDelegated));
                if (PathConst is { } pc)
                {
                    if (pc.Validate() is { } error) return error;
                    if (pc.IsIpv6 != Type.IsIpv6Path())
                        return $"{Type} block carries {(pc.IsIpv6 ? "IPv6" : "IPv4")} addresses.";
                }
                break;
            case OffloadLayer.Tcp:
                if (c && TcpConst is null) return Missing(nameof(TcpConst));
                if (k && TcpCached is null) return Missing(nameof(TcpCached));
                if (d && TcpDelegated is null) return Missing(nameof(TcpDelegated));
                break;
        }
        return null;
    }

    /// <summary>A short description: type, role, handle and status.</summary>
    public override string ToString() => $"{Type} {Role} h=0x{NdisOffloadHandle:x} {Status}";

    private string Missing(string property) => $"{Type} block has no {property}.";
}
