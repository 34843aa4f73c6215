namespace OffloadEmu.Target.Tests;

/// <summary>Spec §2 and §10 rows 1, 5–8: initiate offload, tree semantics, resource codes.</summary>
public sealed class InitiateTests
{
    private static OffloadTargetOptions Capacity(uint tcp) => new()
    {
        Capabilities = new TcpConnectionOffloadCapabilities { TcpConnectionOffloadCapacity = tcp, SupportIPv4 = true, SupportIPv6 = true, SupportSack = true },
    };

    [Fact]
    public void Capacity_plus_one_fails_with_tcp_entries()
    {
        using var lab = new TargetLab(Capacity(1));
        var host = lab.Establish();
        lab.Offload(host);
        var second = lab.Establish();
        var root = lab.BuildTree(second, out var tcp, handleBase: 0x200);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.OffloadTcpEntries, tcp.Status);
        Assert.False(tcp.MiniportOffloadContext!.HasContext); // a failed block's slot stays untouched (row 7)
        Assert.Equal(NdisStatus.OffloadPartialSuccess, root.DependentBlockList!.Status); // path in place, its TCP not
        Assert.Equal(1, lab.Target.ConnectionCount);
    }

    [Theory]
    [InlineData(TcpState.SynSent)]
    [InlineData(TcpState.SynRcvd)]
    [InlineData(TcpState.Listen)]
    [InlineData(TcpState.TimeWait)]
    [InlineData(TcpState.Closed)]
    public void Forbidden_states_fail_and_send_nothing(TcpState state)
    {
        using var lab = new TargetLab();
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp);
        tcp.TcpDelegated!.State = state;
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        lab.RunFor(TimeSpan.FromSeconds(2));
        Assert.Equal(NdisStatus.Failure, tcp.Status);
        Assert.Empty(lab.WireFromTarget);
        Assert.Equal(0, lab.Target.ConnectionCount);
    }

    [Fact]
    public void Receive_window_too_large_fails_with_rcv_window()
    {
        using var lab = new TargetLab(new OffloadTargetOptions { MaxReceiveWindow = 32 * 1024 });
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.OffloadTcpRcvWindow, tcp.Status);
    }

    [Fact]
    public void Path_mtu_above_link_mtu_fails_with_path_mtu_and_its_tcp_fails()
    {
        using var lab = new TargetLab();
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp, pathMtu: 9000);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.OffloadPathMtu, root.DependentBlockList!.Status);
        Assert.Equal(NdisStatus.Failure, tcp.Status);
        Assert.Equal(NdisStatus.OffloadPartialSuccess, root.Status);
    }

    [Fact]
    public void Unsupported_source_mac_fails_with_hw_address_entries()
    {
        using var lab = new TargetLab();
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp, neighborConst: new NeighborConstState { DlSourceAddress = MacAddress.Parse("02:aa:bb:cc:dd:ee") });
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.OffloadHwAddressEntries, root.Status);
        Assert.Equal(NdisStatus.Failure, tcp.Status);
    }

    [Fact]
    public void Unknown_vlan_fails_with_vlan_mismatch()
    {
        using var lab = new TargetLab(new OffloadTargetOptions { VlanIds = [10] });
        var host = lab.Establish();
        var root = lab.BuildTree(host, out _, neighborConst: new NeighborConstState { VlanId = 11 });
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.OffloadVlanMismatch, root.Status);
    }

    [Fact]
    public void Supported_source_mac_and_vlan_are_on_every_frame()
    {
        var mac = MacAddress.Parse("02:aa:bb:cc:dd:ee");
        using var lab = new TargetLab(new OffloadTargetOptions { VlanIds = [10], AdditionalSourceMacs = [mac] });
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp, neighborConst: new NeighborConstState { DlSourceAddress = mac, VlanId = 10 });
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        var nbl = Nbls.Send(Nbls.Pattern(3000));
        lab.Api.TcpOffloadSend(tcp.MiniportOffloadContext!.Context, nbl);
        lab.RunFor(TimeSpan.FromMilliseconds(50));
        Assert.NotEmpty(lab.WireFromTarget);
        foreach (var frame in lab.WireFromTarget)
        {
            Assert.True(EthernetFrame.TryCreate(frame, out var eth));
            Assert.Equal(mac, eth.Source);
            Assert.Equal((ushort)10, eth.VlanTag!.Value.Id);
        }
    }

    [Fact]
    public void Documented_example_tree_gets_the_documented_status_vector()
    {
        // N1{P1{T1,T2},P2{T3}}, T2 short of resources (capacity 1), P2 failing (PMTU above the link MTU).
        using var lab = new TargetLab(Capacity(1));
        var h1 = lab.Establish();
        var n1 = lab.BuildTree(h1, out var t1);
        var p1 = n1.DependentBlockList!;
        var h2 = lab.Establish();
        var t2 = lab.TcpBlock(h2, 0x500);
        var t2Const = t2.TcpConst!.Value;
        t2.TcpConst = t2Const with { LocalPort = 40001 };
        p1.AddDependent(t2);
        var p2 = new OffloadBlock(OffloadBlockType.Ip4OffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            PathConst = new PathConstState { SourceAddress = TargetLab.HostIp, DestinationAddress = new Ipv4Address(198, 18, 0, 9) },
            PathCached = new PathCachedState { PathMtu = 9000 },
            PathDelegated = new PathDelegatedState(),
        };
        var t3 = lab.TcpBlock(h2, 0x600);
        p2.AddDependent(t3);
        n1.AddDependent(p2);
        lab.Api.InitiateOffload(n1);
        lab.RunUntil(() => lab.Host.Initiated.Contains(n1), TimeSpan.FromSeconds(1));
        Assert.Equal(
            [NdisStatus.OffloadPartialSuccess, NdisStatus.OffloadPartialSuccess, NdisStatus.Success, NdisStatus.OffloadTcpEntries, NdisStatus.OffloadPathMtu, NdisStatus.Failure],
            OffloadTree.Traverse(n1).Select(v => v.Block.Status).ToArray());
        Assert.Same(n1, lab.Host.Initiated.Single());
    }

    [Fact]
    public void Linker_offloads_a_second_connection_on_existing_neighbor_and_path()
    {
        using var lab = new TargetLab();
        var h1 = lab.Establish();
        lab.Offload(h1, out var first);
        var path = first.DependentBlockList!;
        var h2Lab = lab.Establish(); // replaces the peer; the first connection stays offloaded
        var t2 = lab.TcpBlock(h2Lab, 0x900);
        t2.TcpConst = t2.TcpConst!.Value with { LocalPort = 40002 };
        var neighborLinker = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = new OffloadContextSlot(first.MiniportOffloadContext!.Context) };
        var pathLinker = new OffloadBlock(OffloadBlockType.Ip4OffloadState) { MiniportOffloadContext = new OffloadContextSlot(path.MiniportOffloadContext!.Context) };
        neighborLinker.AddDependent(pathLinker);
        pathLinker.AddDependent(t2);
        lab.Api.InitiateOffload(neighborLinker);
        lab.RunUntil(() => lab.Host.Initiated.Contains(neighborLinker), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, t2.Status);
        Assert.Equal(NdisStatus.Success, pathLinker.Status);
        Assert.Equal(2, lab.Target.ConnectionCount);
    }

    [Fact]
    public void Buffered_receive_data_is_delivered_before_new_peer_bytes()
    {
        using var lab = new TargetLab();
        var host = lab.Establish();
        var old = Nbls.Pattern(3000, seed: 7);
        var root = lab.BuildTree(host, out var tcp);
        tcp.TcpDelegated!.BufferedData = Nbls.Send(old);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        var fresh = Nbls.Pattern(5000, seed: 8);
        lab.Peer.Enqueue(new MemorySendBuffer(fresh));
        lab.RunUntil(() => lab.Host.IndicatedData.Length == 8000, TimeSpan.FromSeconds(5));
        Assert.Equal(old.Concat(fresh).ToArray(), lab.Host.IndicatedData.ToArray());
    }

    [Fact]
    public void Outstanding_send_data_at_offload_is_sent_and_the_hosts_nbls_complete_on_ack()
    {
        using var lab = new TargetLab();
        var host = lab.Establish();
        // The host sent part of its data before offloading: [SndUna, SndNxt) in flight, the rest unsent.
        var data = Nbls.Pattern(20_000, seed: 3);
        host.Enqueue(new MemorySendBuffer(data));
        var collector = new List<byte[]>();
        host.Dispatch(lab.Now, new DropWriter()); // sent, but lost before reaching the peer
        Assert.True(host.SndNxt > host.SndUna);
        var root = lab.BuildTree(host, out var tcp);
        var nbl = Nbls.Send(data);
        tcp.NetBufferListChain = nbl;
        tcp.TcpDelegated!.SendDataHead = nbl;
        tcp.TcpDelegated.SendDataTail = nbl;
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.SendsCompleted.Contains(nbl), TimeSpan.FromSeconds(30));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        Assert.Equal(NdisStatus.Success, nbl.Status);
        Assert.Equal(data.Length, nbl.TcpOffloadBytesTransferred);
        Assert.Equal(data, lab.PeerReceived.ToArray());
    }

    private sealed class DropWriter : ITcpSegmentWriter
    {
        private readonly byte[] _buffer = new byte[70_000];
        public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, length);
        public void Commit(int length) { }
    }
}
