using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Chimney.Tests;

public class OffloadTreeTests
{
    private static OffloadBlock New(OffloadBlockType type, ulong handle)
        => new(type) { NdisOffloadHandle = handle, MiniportOffloadContext = new OffloadContextSlot() };

    // The doc example N1{P1{T1,T2},P2{T3}}: every object a new offload; handles name the blocks.
    private static (OffloadBlock Root, Dictionary<string, OffloadBlock> ByName) DocExample()
    {
        var n1 = New(OffloadBlockType.NeighborOffloadState, 1);
        var p1 = New(OffloadBlockType.Ip4OffloadState, 11);
        var p2 = New(OffloadBlockType.Ip4OffloadState, 12);
        var t1 = New(OffloadBlockType.TcpOffloadState, 111);
        var t2 = New(OffloadBlockType.TcpOffloadState, 112);
        var t3 = New(OffloadBlockType.TcpOffloadState, 121);
        n1.AddDependent(p1).AddDependent(p2);
        p1.AddDependent(t1).AddDependent(t2);
        p2.AddDependent(t3);
        return (n1, new() { ["N1"] = n1, ["P1"] = p1, ["P2"] = p2, ["T1"] = t1, ["T2"] = t2, ["T3"] = t3 });
    }

    private static string NameOf(Dictionary<string, OffloadBlock> byName, OffloadBlock b) => byName.Single(kv => kv.Value == b).Key;

    [Fact]
    public void Traversal_is_depth_first_then_breadth()
    {
        var (root, byName) = DocExample();
        var visits = OffloadTree.Traverse(root).ToList();
        Assert.Equal(new[] { "N1", "P1", "T1", "T2", "P2", "T3" }, visits.Select(v => NameOf(byName, v.Block)));
        Assert.Equal(new[] { 0, 1, 2, 2, 1, 2 }, visits.Select(v => v.Depth));
        Assert.Equal(new string?[] { null, "N1", "P1", "P1", "N1", "P2" }, visits.Select(v => v.Parent is null ? null : NameOf(byName, v.Parent)));
    }

    [Fact]
    public void Traversal_covers_the_top_level_next_chain_after_each_subtree()
    {
        var (n1, byName) = DocExample();
        var n2 = New(OffloadBlockType.NeighborOffloadState, 2);
        var p3 = New(OffloadBlockType.Ip6OffloadState, 13);
        n2.AddDependent(p3);
        n1.NextBlock = n2;
        byName["N2"] = n2;
        byName["P3"] = p3;
        Assert.Equal(new[] { "N1", "P1", "T1", "T2", "P2", "T3", "N2", "P3" }, OffloadTree.Traverse(n1).Select(v => NameOf(byName, v.Block)));
        Assert.Empty(OffloadTree.Traverse(null));
    }

    [Fact]
    public void Initiate_reproduces_the_doc_example_status_vector()
    {
        var (root, byName) = DocExample();
        var tried = new List<string>();
        ulong nextContext = 0x100;
        OffloadTree.ApplyInitiate(root, block =>
        {
            string name = NameOf(byName, block);
            tried.Add(name);
            if (name == "T2") return NdisStatus.Resources;
            if (name == "P2") return NdisStatus.Failure;
            block.MiniportOffloadContext!.Context = nextContext++;
            return NdisStatus.Success;
        });

        Assert.Equal(new[] { "N1", "P1", "T1", "T2", "P2" }, tried); // T3 is never tried
        Assert.Equal(NdisStatus.OffloadPartialSuccess, byName["N1"].Status);
        Assert.Equal(NdisStatus.OffloadPartialSuccess, byName["P1"].Status);
        Assert.Equal(NdisStatus.Success, byName["T1"].Status);
        Assert.Equal(NdisStatus.Resources, byName["T2"].Status);
        Assert.Equal(NdisStatus.Failure, byName["P2"].Status);
        Assert.Equal(NdisStatus.Failure, byName["T3"].Status);
        // Failed blocks keep an empty slot.
        Assert.False(byName["T2"].MiniportOffloadContext!.HasContext);
        Assert.False(byName["T3"].MiniportOffloadContext!.HasContext);
    }

    [Fact]
    public void Root_failure_fails_the_whole_tree_without_trying_it()
    {
        var (root, _) = DocExample();
        int calls = 0;
        OffloadTree.ApplyInitiate(root, _ => { calls++; return NdisStatus.OffloadNeighborEntries; });
        Assert.Equal(1, calls);
        var statuses = OffloadTree.Traverse(root).Select(v => v.Block.Status).ToList();
        Assert.Equal(NdisStatus.OffloadNeighborEntries, statuses[0]);
        Assert.All(statuses.Skip(1), s => Assert.Equal(NdisStatus.Failure, s));
    }

    [Fact]
    public void Placeholders_always_succeed_and_linkers_report_their_dependents()
    {
        // Placeholder neighbour → linker path (existing) → three new TCP connections, one failing.
        var placeholder = new OffloadBlock(OffloadBlockType.NeighborOffloadState);
        var linker = new OffloadBlock(OffloadBlockType.Ip4OffloadState) { MiniportOffloadContext = new OffloadContextSlot(0x55) };
        var ta = New(OffloadBlockType.TcpOffloadState, 1);
        var tb = New(OffloadBlockType.TcpOffloadState, 2);
        var tc = New(OffloadBlockType.TcpOffloadState, 3);
        placeholder.AddDependent(linker);
        linker.AddDependent(ta).AddDependent(tb).AddDependent(tc);
        Assert.Equal(OffloadBlockRole.Placeholder, placeholder.Role);
        Assert.Equal(OffloadBlockRole.Linker, linker.Role);
        Assert.Equal(OffloadBlockRole.NewOffload, ta.Role);

        OffloadTree.ApplyInitiate(placeholder, b => b == tb ? NdisStatus.OffloadTcpEntries : NdisStatus.Success);
        Assert.Equal(NdisStatus.Success, placeholder.Status);
        Assert.Equal(NdisStatus.OffloadPartialSuccess, linker.Status);

        OffloadTree.ApplyInitiate(placeholder, _ => NdisStatus.Failure);
        Assert.Equal(NdisStatus.Success, placeholder.Status);
        Assert.Equal(NdisStatus.Failure, linker.Status);

        OffloadTree.ApplyInitiate(placeholder, _ => NdisStatus.Success);
        Assert.Equal(NdisStatus.Success, linker.Status);

        var lonely = new OffloadBlock(OffloadBlockType.NeighborOffloadState);
        OffloadTree.ApplyInitiate(lonely, _ => throw new InvalidOperationException("a placeholder is never offloaded"));
        Assert.Equal(NdisStatus.Success, lonely.Status);
    }

    [Fact]
    public void Callback_must_return_a_per_object_outcome()
    {
        var (root, _) = DocExample();
        Assert.Throws<InvalidOperationException>(() => OffloadTree.ApplyInitiate(root, _ => NdisStatus.Pending));
        Assert.Throws<InvalidOperationException>(() => OffloadTree.ApplyInitiate(root, _ => NdisStatus.OffloadPartialSuccess));
    }

    [Fact]
    public void SetStatus_writes_every_block()
    {
        var (root, _) = DocExample();
        OffloadTree.SetStatus(root, NdisStatus.Failure);
        Assert.All(OffloadTree.Traverse(root), v => Assert.Equal(NdisStatus.Failure, v.Block.Status));
    }

    [Theory]
    [InlineData(OffloadBlockType.NeighborOffloadConstState, OffloadLayer.Neighbor, OffloadStateClasses.Const, false)]
    [InlineData(OffloadBlockType.NeighborOffloadCachedState, OffloadLayer.Neighbor, OffloadStateClasses.Cached, false)]
    [InlineData(OffloadBlockType.NeighborOffloadDelegatedState, OffloadLayer.Neighbor, OffloadStateClasses.Delegated, false)]
    [InlineData(OffloadBlockType.NeighborOffloadState, OffloadLayer.Neighbor, OffloadStateClasses.All, false)]
    [InlineData(OffloadBlockType.Ip4OffloadConstState, OffloadLayer.Path, OffloadStateClasses.Const, false)]
    [InlineData(OffloadBlockType.Ip4OffloadState, OffloadLayer.Path, OffloadStateClasses.All, false)]
    [InlineData(OffloadBlockType.Ip6OffloadCachedState, OffloadLayer.Path, OffloadStateClasses.Cached, true)]
    [InlineData(OffloadBlockType.Ip6OffloadState, OffloadLayer.Path, OffloadStateClasses.All, true)]
    [InlineData(OffloadBlockType.TcpOffloadConstState, OffloadLayer.Tcp, OffloadStateClasses.Const, false)]
    [InlineData(OffloadBlockType.TcpOffloadCachedState, OffloadLayer.Tcp, OffloadStateClasses.Cached, false)]
    [InlineData(OffloadBlockType.TcpOffloadDelegatedState, OffloadLayer.Tcp, OffloadStateClasses.Delegated, false)]
    [InlineData(OffloadBlockType.TcpOffloadResourceState, OffloadLayer.Tcp, OffloadStateClasses.None, false)]
    [InlineData(OffloadBlockType.TcpOffloadState, OffloadLayer.Tcp, OffloadStateClasses.All, false)]
    public void Block_types_decode_to_layer_and_state_classes(OffloadBlockType type, OffloadLayer layer, OffloadStateClasses classes, bool ipv6)
    {
        Assert.Equal(layer, type.GetLayer());
        Assert.Equal(classes, type.GetStateClasses());
        Assert.Equal(ipv6, type.IsIpv6Path());
    }

    [Fact]
    public void Block_type_values_are_the_ndis_ones()
    {
        Assert.Equal(Enumerable.Range(1, 17), Enum.GetValues<OffloadBlockType>().Select(t => (int)t));
        Assert.Equal(4, (int)OffloadBlockType.NeighborOffloadState);
        Assert.Equal(8, (int)OffloadBlockType.Ip4OffloadState);
        Assert.Equal(12, (int)OffloadBlockType.Ip6OffloadState);
        Assert.Equal(17, (int)OffloadBlockType.TcpOffloadState);
        Assert.Throws<ArgumentOutOfRangeException>(() => ((OffloadBlockType)0).GetLayer());
        Assert.Throws<ArgumentOutOfRangeException>(() => ((OffloadBlockType)18).GetStateClasses());
        Assert.Equal(OffloadBlockType.Ip6OffloadState, OffloadBlockTypeExtensions.AllStateType(OffloadLayer.Path, ipv6: true));
    }

    [Fact]
    public void ValidateState_checks_presence_and_family()
    {
        var tcp = new OffloadBlock(OffloadBlockType.TcpOffloadState) { TcpConst = new TcpConstState(), TcpCached = new TcpCachedState() };
        Assert.Contains("TcpDelegated", tcp.ValidateState());
        tcp.TcpDelegated = new TcpDelegatedState { State = TcpState.Established };
        Assert.Null(tcp.ValidateState());

        var cachedOnly = new OffloadBlock(OffloadBlockType.NeighborOffloadCachedState) { NeighborCached = new NeighborCachedState() };
        Assert.Null(cachedOnly.ValidateState());

        var path = new OffloadBlock(OffloadBlockType.Ip6OffloadState)
        {
            PathConst = new PathConstState { SourceAddress = Ipv4Address.Parse("198.18.9.1"), DestinationAddress = Ipv4Address.Parse("198.18.9.2") },
            PathCached = new PathCachedState { PathMtu = 1500 },
            PathDelegated = new PathDelegatedState(),
        };
        Assert.Contains("IPv4", path.ValidateState());
        path.Type = OffloadBlockType.Ip4OffloadState;
        Assert.Null(path.ValidateState());
        Assert.NotEmpty(path.ToString());
    }
}
