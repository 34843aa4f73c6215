using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Chimney.Tests.Fakes;

/// <summary>The spec §2 example N1{P1{T1,T2},P2{T3}} as new offloads, with host handles, ImReserved and SourceHandle set.</summary>
public sealed class SampleTree
{
    public const ulong HostSourceHandle = 0xB05_7000;

    public SampleTree(ulong handleBase = 0x100)
    {
        N1 = Make(OffloadBlockType.NeighborOffloadState, handleBase + 1);
        P1 = Make(OffloadBlockType.Ip4OffloadState, handleBase + 2);
        P2 = Make(OffloadBlockType.Ip4OffloadState, handleBase + 3);
        T1 = Make(OffloadBlockType.TcpOffloadState, handleBase + 4);
        T2 = Make(OffloadBlockType.TcpOffloadState, handleBase + 5);
        T3 = Make(OffloadBlockType.TcpOffloadState, handleBase + 6);
        N1.AddDependent(P1).AddDependent(P2);
        P1.AddDependent(T1).AddDependent(T2);
        P2.AddDependent(T3);
    }

    public OffloadBlock N1 { get; }
    public OffloadBlock P1 { get; }
    public OffloadBlock P2 { get; }
    public OffloadBlock T1 { get; }
    public OffloadBlock T2 { get; }
    public OffloadBlock T3 { get; }

    public OffloadBlock Root => N1;

    /// <summary>Fills every block with the const, cached and delegated state its type says follows (a well-formed initiate, spec §2).</summary>
    public SampleTree WithState()
    {
        foreach (var block in All)
        {
            switch (block.Layer)
            {
                case OffloadLayer.Neighbor:
                    block.NeighborConst = new NeighborConstState();
                    block.NeighborCached ??= new NeighborCachedState();
                    block.NeighborDelegated = new NeighborDelegatedState();
                    break;
                case OffloadLayer.Path:
                    block.PathConst = new PathConstState { SourceAddress = Ipv4Address.Parse("198.18.9.1"), DestinationAddress = Ipv4Address.Parse("198.18.9.2") };
                    block.PathCached = new PathCachedState();
                    block.PathDelegated = new PathDelegatedState();
                    break;
                default:
                    block.TcpConst = new TcpConstState();
                    block.TcpCached = new TcpCachedState();
                    block.TcpDelegated = new TcpDelegatedState();
                    break;
            }
        }
        return this;
    }

    public OffloadBlock[] All => [N1, P1, T1, T2, P2, T3];

    public static OffloadBlock Make(OffloadBlockType type, ulong handle, ulong context = 0) => new(type)
    {
        NdisOffloadHandle = handle,
        MiniportOffloadContext = new OffloadContextSlot(context),
        ImReserved = new object(),
        SourceHandle = HostSourceHandle,
        NeighborCached = type == OffloadBlockType.NeighborOffloadState ? new NeighborCachedState() : null,
    };

    /// <summary>A linker/addressing block for an object already offloaded with <paramref name="offloaded"/>'s slot.</summary>
    public static OffloadBlock Existing(OffloadBlock offloaded) => new(offloaded.Type)
    {
        NdisOffloadHandle = offloaded.NdisOffloadHandle,
        MiniportOffloadContext = new OffloadContextSlot(offloaded.MiniportOffloadContext!.Context),
        ImReserved = new object(),
        SourceHandle = HostSourceHandle,
    };
}
