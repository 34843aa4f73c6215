namespace OffloadEmu.Target.Tests;

/// <summary>Spec §4 (forward), §6.3–§6.7 (retrieve, reachability, hostile input, pause/upload-all, update,
/// invalidate, query), §6.10 (statistics) and the non-offload path.</summary>
public sealed class StateOpsTests
{
    private static (TargetLab Lab, OffloadBlock Root, ulong Context) Offloaded(OffloadTargetOptions? options = null, int queues = 1)
    {
        var lab = new TargetLab(options, queues: queues);
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        return (lab, root, tcp.MiniportOffloadContext!.Context);
    }

    private static OffloadBlock BlockOf(OffloadBlock root, OffloadBlockType type)
        => OffloadTree.Traverse(root).Select(v => v.Block).Single(b => b.Type == type);

    private static void Terminate(TargetLab lab, OffloadBlock root)
    {
        Assert.Equal(NdisStatus.Pending, lab.Api.TerminateOffload(root));
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
    }

    private static byte[] PeerData(TargetLab lab, SeqNumber seq, byte[] payload, TcpFlags flags = TcpFlags.Ack | TcpFlags.Psh, ushort urgent = 0)
        => TargetLab.Segment(new TcpRepr
        {
            SourcePort = TargetLab.RemotePort,
            DestinationPort = TargetLab.LocalPort,
            SequenceNumber = seq,
            AckNumber = lab.Peer.RcvNxt,
            Flags = flags,
            Window = 1000,
            // The lab's connection negotiated timestamps: every segment carries them (RFC 7323 §3.2).
            Options = TargetLab.PeerTimestamps(lab),
            UrgentPointer = urgent,
        }, payload);

    // ---- non-offload path -----------------------------------------------------------------------------------------------

    [Fact]
    public void Frames_not_for_an_offloaded_connection_go_up_unchanged_and_host_frames_go_out_unchanged()
    {
        var (lab, _, _) = Offloaded();
        using var __ = lab;
        var arp = new byte[14 + 28];
        new EthernetRepr(lab.PeerSide.MacAddress, MacAddress.Broadcast, EtherType.Arp).Emit(arp);
        new ArpRepr(ArpOperation.Request, lab.PeerSide.MacAddress, TargetLab.PeerIp, default, TargetLab.HostIp).Emit(arp.AsSpan(14));
        var otherPort = lab.FrameFromPeer(TargetLab.Segment(new TcpRepr
        {
            SourcePort = 9999, DestinationPort = 80, SequenceNumber = new SeqNumber(1), Flags = TcpFlags.Syn, Window = 100,
        }, []));
        // A fragment of the offloaded connection's own flow: fragments always go up (the host reassembles and forwards).
        var fragmentTcp = PeerData(lab, lab.Peer.SndNxt, new byte[4]);
        var fragment = new byte[14 + 20 + fragmentTcp.Length];
        new EthernetRepr(lab.PeerSide.MacAddress, lab.NicSide.MacAddress, EtherType.Ipv4).Emit(fragment);
        new Ipv4Repr(TargetLab.PeerIp, TargetLab.HostIp, IpProtocol.Tcp, fragmentTcp.Length, moreFragments: true).Emit(fragment.AsSpan(14));
        fragmentTcp.CopyTo(fragment.AsSpan(34));

        foreach (var frame in new[] { arp, otherPort, fragment }) lab.Inject(frame);
        lab.Step();
        Assert.Equal(3, lab.Host.Frames.Count);
        Assert.Equal(arp, lab.Host.Frames[0]);
        Assert.Equal(otherPort, lab.Host.Frames[1]);
        Assert.Equal(fragment, lab.Host.Frames[2]);
        Assert.DoesNotContain(lab.WireFromTarget, f => f.AsSpan(12, 2).SequenceEqual(new byte[] { 0x08, 0x06 })); // no ARP answered by the NIC

        // Down: the host's ARP reply leaves as is.
        var reply = new byte[14 + 28];
        new EthernetRepr(lab.NicSide.MacAddress, lab.PeerSide.MacAddress, EtherType.Arp).Emit(reply);
        new ArpRepr(ArpOperation.Reply, lab.NicSide.MacAddress, TargetLab.HostIp, lab.PeerSide.MacAddress, TargetLab.PeerIp).Emit(reply.AsSpan(14));
        Assert.Equal(NdisStatus.Success, lab.Api.SendFrame(reply));
        lab.Step();
        Assert.Contains(lab.WireFromTarget, f => f.AsSpan().SequenceEqual(reply));
        // A frame longer than the link allows is refused, not truncated.
        Assert.Equal(NdisStatus.Failure, lab.Api.SendFrame(new byte[lab.Target.Mtu + 14 + 100]));
    }

    // ---- forward (spec §4) ----------------------------------------------------------------------------------------------

    private static NetBufferList ForwardNbl(byte[] tcpSegment, ulong id = 0)
    {
        var nbl = new NetBufferList { RequestId = id };
        nbl.AddBuffer().AddSegment(tcpSegment);
        return nbl;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Forwarded_segments_are_processed_as_if_from_the_wire_and_a_duplicate_is_harmless(int queues)
    {
        var (lab, _, ctx) = Offloaded(queues: queues);
        using var __ = lab;
        var payload = Nbls.Pattern(700, seed: 9);
        var segment = PeerData(lab, lab.Peer.SndNxt, payload);
        var first = ForwardNbl(segment, 1);
        var again = ForwardNbl(segment, 2);
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadForward(ctx, Nbls.Chain(first, again)));
        lab.RunUntil(() => lab.Host.ForwardsCompleted.Count == 2, TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, first.Status);
        Assert.Equal(NdisStatus.Success, again.Status);
        Assert.Equal(payload, lab.Host.IndicatedData.ToArray()); // once, not twice
        // The target ACKs it on the wire as it would a wire segment.
        Assert.Contains(lab.TargetSegments(), s => s.Tcp.AckNumber == lab.Peer.SndNxt + payload.Length);

        var junk = ForwardNbl(new byte[7], 3);
        var before = lab.Target.QueryTcpStatistics(false).InErrors;
        lab.Api.TcpOffloadForward(ctx, junk);
        lab.RunUntil(() => lab.Host.ForwardsCompleted.Contains(junk), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, junk.Status);
        Assert.Equal(before + 1, lab.Target.QueryTcpStatistics(false).InErrors);

        lab.ExpectedViolations.Add(ContractRule.IoOnUnknownConnection); // on purpose: the target must survive it
        var stray = ForwardNbl(segment, 4);
        lab.Api.TcpOffloadForward(0xBAD, stray);
        lab.RunUntil(() => lab.Host.ForwardsCompleted.Contains(stray), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.RequestAborted, stray.Status);
    }

    [Fact]
    public void Forward_after_a_retrieve_gets_upload_in_progress_and_terminate_waits_for_pending_forwards()
    {
        var (lab, root, ctx) = Offloaded();
        using var __ = lab;
        lab.Target.RequestUpload(ctx);
        var late = ForwardNbl(PeerData(lab, lab.Peer.SndNxt, new byte[10]));
        lab.Api.TcpOffloadForward(ctx, late);
        lab.Api.TerminateOffload(root);
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Contains(late, lab.Host.ForwardsCompleted); // completed before the terminate completed
        Assert.Equal(NdisStatus.UploadInProgress, late.Status);
    }

    // ---- hostile input (spec §6.5) --------------------------------------------------------------------------------------

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Urgent_data_asks_for_upload_is_not_acked_and_goes_up_after_terminate(int queues)
    {
        var (lab, root, _) = Offloaded(queues: queues);
        using var __ = lab;
        var urgent = lab.FrameFromPeer(PeerData(lab, lab.Peer.SndNxt, [1, 2, 3], TcpFlags.Ack | TcpFlags.Urg | TcpFlags.Psh, urgent: 3));
        int acksBefore = lab.TargetSegments().Count();
        lab.Inject(urgent);
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Retrieve), TimeSpan.FromSeconds(1));
        Assert.Contains(lab.Host.Events, e => e.Type == TcpOffloadEventType.Retrieve && e.Info == (uint)TcpUploadReason.ReceivedUrgentData);
        Assert.Equal(acksBefore, lab.TargetSegments().Count()); // not ACKed
        Assert.Empty(lab.Host.IndicatedData.ToArray());
        Terminate(lab, root);
        lab.Step();
        Assert.Contains(lab.Host.Frames, f => f.AsSpan().SequenceEqual(urgent)); // the host gets it on the non-offload path
    }

    [Fact]
    public void Frames_held_after_urgent_data_are_bounded_and_the_excess_is_a_counted_drop()
    {
        // Issue 8 (an attacker cannot grow the target's memory): after URG the target holds the connection's frames
        // for the host until the terminate; a peer flooding it while the host is slow is cut at MaxHeldFrameBytes.
        var (lab, root, _) = Offloaded();
        using var __ = lab;
        lab.Inject(lab.FrameFromPeer(PeerData(lab, lab.Peer.SndNxt, [1, 2, 3], TcpFlags.Ack | TcpFlags.Urg | TcpFlags.Psh, urgent: 3)));
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Retrieve), TimeSpan.FromSeconds(1));
        long dropped = lab.Target.DroppedFrames;
        var flood = lab.FrameFromPeer(PeerData(lab, lab.Peer.SndNxt + 3, new byte[1000]));
        int count = (int)(TargetEngine.MaxHeldFrameBytes / flood.Length) + 100;
        for (int i = 0; i < count; i++) lab.Inject(flood);
        lab.Step();
        Assert.InRange(lab.Target.DroppedFrames - dropped, 100, 101);
        Terminate(lab, root);
        lab.Step();
        long up = lab.Host.Frames.Sum(f => (long)f.Length);
        Assert.InRange(up, TargetEngine.MaxHeldFrameBytes - flood.Length, TargetEngine.MaxHeldFrameBytes);
    }

    [Fact]
    public void Syn_at_rcv_nxt_uploads_the_connection_closed()
    {
        var (lab, root, _) = Offloaded();
        using var __ = lab;
        var syn = lab.FrameFromPeer(TargetLab.Segment(new TcpRepr
        {
            SourcePort = TargetLab.RemotePort, DestinationPort = TargetLab.LocalPort, SequenceNumber = lab.Peer.SndNxt,
            Flags = TcpFlags.Syn, Window = 1000,
        }, []));
        lab.Inject(syn);
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Retrieve), TimeSpan.FromSeconds(1));
        Terminate(lab, root);
        Assert.Equal(TcpState.Closed, BlockOf(root, OffloadBlockType.TcpOffloadState).TcpDelegated!.State);
        lab.Step();
        Assert.Contains(lab.Host.Frames, f => f.AsSpan().SequenceEqual(syn));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Bad_checksum_is_a_counted_drop_and_statistics_follow_the_traffic(int queues)
    {
        var (lab, root, ctx) = Offloaded(queues: queues);
        using var __ = lab;
        var stats = lab.Target.QueryTcpStatistics(false);
        Assert.Equal(1UL, stats.CurrentlyEstablished);
        var bad = lab.FrameFromPeer(PeerData(lab, lab.Peer.SndNxt, [1, 2, 3, 4]));
        bad[^1] ^= 0xFF;
        lab.Inject(bad);
        lab.Step();
        Assert.Equal(stats.InErrors + 1, lab.Target.QueryTcpStatistics(false).InErrors);
        Assert.Empty(lab.Host.IndicatedData.ToArray());

        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(30_000)));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(5));
        var after = lab.Target.QueryTcpStatistics(false);
        int dataSegments = lab.TargetSegments().Count(s => s.PayloadLength > 0);
        Assert.True(after.OutSegments >= (ulong)dataSegments, $"OutSegments {after.OutSegments} < {dataSegments} data segments on the wire");
        Assert.True(after.InSegments > stats.InSegments);
        var ip = lab.Target.QueryIpStatistics(false);
        Assert.True(ip.OutRequests > 0);
        // IP-MIB: every datagram received for an offloaded connection went up to its TCP (the bad checksum is in neither).
        Assert.Equal(ip.InReceives, ip.InDelivers);
        Assert.Equal(after.InSegments, ip.InDelivers);
        Terminate(lab, root);
        Assert.Equal(0UL, lab.Target.QueryTcpStatistics(false).CurrentlyEstablished);
        lab.Target.ResetStatistics(false);
        Assert.Equal(0UL, lab.Target.QueryTcpStatistics(false).InSegments);
    }

    [Fact]
    public void Illegal_option_length_is_a_counted_drop_and_the_connection_goes_on()
    {
        // RFC 9293 MUST-7 and spec §6.5 (bad TCP header: pass up, or drop + InErrors); found by tests/conformance: the
        // machine dropped it but the target's InErrors did not count it.
        var (lab, root, _) = Offloaded();
        using var __ = lab;
        var before = lab.Target.QueryTcpStatistics(false).InErrors;
        var segment = TargetLab.Segment(new TcpRepr
        {
            SourcePort = TargetLab.RemotePort,
            DestinationPort = TargetLab.LocalPort,
            SequenceNumber = lab.Peer.SndNxt,
            AckNumber = lab.Peer.RcvNxt,
            Flags = TcpFlags.Ack | TcpFlags.Psh,
            Window = 1000,
            Options = TargetLab.PeerTimestamps(lab),
        }, [1, 2, 3, 4]);
        int ts = segment.AsSpan(20, (segment[12] >> 4) * 4 - 20).IndexOf(new byte[] { 8, 10 });
        Assert.True(ts >= 0, "no timestamp option emitted");
        segment[20 + ts + 1] = 0; // the timestamp option's length byte: 0 (an illegal length)
        Assert.True(TcpSegment.TryCreate(segment, out var parsed));
        parsed.FillChecksum(TargetLab.PeerIp, TargetLab.HostIp);
        lab.Inject(lab.FrameFromPeer(segment));
        lab.Step();
        Assert.Equal(before + 1, lab.Target.QueryTcpStatistics(false).InErrors);
        Assert.Empty(lab.Host.IndicatedData.ToArray());
        lab.Inject(lab.FrameFromPeer(PeerData(lab, lab.Peer.SndNxt, [5, 6])));
        lab.RunUntil(() => lab.Host.IndicatedData.Length == 2, TimeSpan.FromSeconds(1));
        Terminate(lab, root);
    }

    // ---- update / invalidate / query (spec §6.7) ------------------------------------------------------------------------

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Path_mtu_update_shrinks_later_segments(int queues)
    {
        var (lab, root, ctx) = Offloaded(queues: queues);
        using var __ = lab;
        var path = BlockOf(root, OffloadBlockType.Ip4OffloadState);
        path.PathCached = path.PathCached!.Value with { PathMtu = 900 };
        Assert.Equal(NdisStatus.Pending, lab.Api.UpdateOffload(root));
        lab.RunUntil(() => lab.Host.Updated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, path.Status);
        int before = lab.WireFromTarget.Count;
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(20_000)));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(5));
        var data = lab.TargetSegments().Skip(before).Where(s => s.PayloadLength > 0).ToList();
        Assert.All(data, s => Assert.True(s.Ip.PayloadLength + 20 <= 900));
        Assert.Equal(900 - 20 - 20 - 12, data.Max(s => s.PayloadLength));

        // An MTU the link cannot carry is refused; the connection keeps its old one.
        path.PathCached = path.PathCached!.Value with { PathMtu = 9000 };
        lab.Api.UpdateOffload(root);
        lab.RunUntil(() => lab.Host.Updated.Count == 2, TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Failure, path.Status);
    }

    [Fact]
    public void Neighbor_mac_update_changes_the_destination_of_later_frames()
    {
        var (lab, root, ctx) = Offloaded();
        using var __ = lab;
        var neighbor = BlockOf(root, OffloadBlockType.NeighborOffloadState);
        var newMac = MacAddress.Parse("02:00:5e:00:00:42");
        neighbor.NeighborCached = neighbor.NeighborCached!.Value with { DlDestinationAddress = newMac };
        lab.Api.UpdateOffload(root);
        lab.RunUntil(() => lab.Host.Updated.Contains(root), TimeSpan.FromSeconds(1));
        int before = lab.WireFromTarget.Count;
        lab.DropToPeer = _ => true;
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(100)));
        lab.Step();
        var sent = lab.WireFromTarget.Skip(before).ToList();
        Assert.NotEmpty(sent);
        Assert.All(sent, f => Assert.True(EthernetFrame.TryCreate(f, out var eth) && eth.Destination == newMac));
    }

    [Fact]
    public void Relinking_a_path_to_a_new_neighbour_switches_the_destination_mac_without_loss()
    {
        var (lab, root, ctx) = Offloaded();
        using var __ = lab;
        var newMac = MacAddress.Parse("02:00:5e:00:00:77");
        var neighbor2 = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = 0x900,
            NeighborConst = default(NeighborConstState),
            NeighborCached = new NeighborCachedState { DlDestinationAddress = newMac },
            NeighborDelegated = new NeighborDelegatedState(),
        };
        lab.Api.InitiateOffload(neighbor2);
        lab.RunUntil(() => lab.Host.Initiated.Contains(neighbor2), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, neighbor2.Status);

        // Update tree: the new neighbour as root, the path to move as its dependent (spec §6.7).
        var path = BlockOf(root, OffloadBlockType.Ip4OffloadState);
        var relinkRoot = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            MiniportOffloadContext = neighbor2.MiniportOffloadContext, NdisOffloadHandle = neighbor2.NdisOffloadHandle,
        };
        relinkRoot.AddDependent(new OffloadBlock(OffloadBlockType.Ip4OffloadState)
        {
            MiniportOffloadContext = path.MiniportOffloadContext, NdisOffloadHandle = path.NdisOffloadHandle,
        });
        lab.Api.UpdateOffload(relinkRoot);
        lab.RunUntil(() => lab.Host.Updated.Contains(relinkRoot), TimeSpan.FromSeconds(1));
        Assert.All(OffloadTree.Traverse(relinkRoot), v => Assert.Equal(NdisStatus.Success, v.Block.Status));

        int before = lab.WireFromTarget.Count;
        lab.DropToPeer = _ => true;
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(3000)));
        lab.Step();
        var sent = lab.WireFromTarget.Skip(before).ToList();
        Assert.NotEmpty(sent);
        Assert.All(sent, f => Assert.True(EthernetFrame.TryCreate(f, out var eth) && eth.Destination == newMac));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Invalidated_path_stops_sending_and_asks_for_upload_with_invalid_state(int queues)
    {
        var (lab, root, ctx) = Offloaded(queues: queues);
        using var __ = lab;
        var path = BlockOf(root, OffloadBlockType.Ip4OffloadState);
        var bare = new OffloadBlock(OffloadBlockType.Ip4OffloadState) { MiniportOffloadContext = path.MiniportOffloadContext, NdisOffloadHandle = path.NdisOffloadHandle };
        Assert.Equal(NdisStatus.Pending, lab.Api.InvalidateOffload(bare));
        lab.RunUntil(() => lab.Host.Invalidated.Contains(bare), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, bare.Status);
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Retrieve), TimeSpan.FromSeconds(1));
        Assert.Contains(lab.Host.Events, e => e.Type == TcpOffloadEventType.Retrieve && e.Info == (uint)TcpUploadReason.InvalidState);
        int before = lab.TargetSegments().Count(s => s.PayloadLength > 0);
        var send = Nbls.Send(Nbls.Pattern(1000));
        lab.Api.TcpOffloadSend(ctx, send);
        lab.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.Equal(before, lab.TargetSegments().Count(s => s.PayloadLength > 0)); // nothing sent
        Terminate(lab, root);
        Assert.Contains(send, lab.Host.SendsCompleted);
        Assert.NotEqual(NdisStatus.Success, send.Status);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Query_reads_the_live_delegated_state_which_matches_the_peer(int queues)
    {
        var (lab, root, ctx) = Offloaded(queues: queues);
        using var __ = lab;
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(12_345)));
        lab.Peer.Enqueue(new MemorySendBuffer(Nbls.Pattern(5_432)));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1 && lab.Host.IndicatedData.Length == 5_432, TimeSpan.FromSeconds(5));
        lab.RunFor(TimeSpan.FromMilliseconds(300));
        Assert.Equal(NdisStatus.Pending, lab.Api.QueryOffloadState(root));
        lab.RunUntil(() => lab.Host.Queried.Contains(root), TimeSpan.FromSeconds(1));
        var d = BlockOf(root, OffloadBlockType.TcpOffloadState).TcpDelegated!;
        Assert.Equal(lab.Peer.SndNxt, d.RcvNxt);
        Assert.Equal(lab.Peer.RcvNxt, d.SndUna);
        Assert.Equal(d.SndUna, d.SndNxt);
        Assert.Equal(TcpState.Established, d.State);
        Assert.Equal(1, lab.Target.ConnectionCount); // a query is not an upload
    }

    // ---- retrieve, hardware failure, adapter status ---------------------------------------------------------------------

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Hardware_failure_retrieves_aborts_and_the_terminate_returns_failure_with_io_aborted(int queues)
    {
        var (lab, root, ctx) = Offloaded(queues: queues);
        using var __ = lab;
        lab.DropToPeer = _ => true;
        var send = Nbls.Send(Nbls.Pattern(5000));
        lab.Api.TcpOffloadSend(ctx, send);
        lab.Step();
        lab.Target.InjectHardwareFailure(ctx);
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Abort), TimeSpan.FromSeconds(1));
        Assert.Contains(lab.Host.Events, e => e.Type == TcpOffloadEventType.Retrieve && e.Info == (uint)TcpUploadReason.HardwareFailure);
        int retrieve = lab.Host.Events.FindIndex(e => e.Type == TcpOffloadEventType.Retrieve);
        int abort = lab.Host.Events.FindIndex(e => e.Type == TcpOffloadEventType.Abort);
        Assert.True(retrieve < abort, "Retrieve(HardwareFailure) comes before the abort (spec §6.6)");
        Terminate(lab, root);
        Assert.Equal(NdisStatus.Failure, BlockOf(root, OffloadBlockType.TcpOffloadState).Status);
        Assert.Equal(NdisStatus.RequestAborted, send.Status);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Pause_upload_all_and_resume_are_indicated_in_order(int queues)
    {
        var (lab, _, _) = Offloaded(queues: queues);
        using var __ = lab;
        lab.Target.IndicatePause();
        lab.Target.IndicateUploadAll();
        lab.Target.IndicateResume();
        lab.RunUntil(() => lab.Host.Statuses.Count == 3, TimeSpan.FromSeconds(1));
        Assert.Equal([NdisStatus.OffloadPause, NdisStatus.UploadAll, NdisStatus.OffloadResume], lab.Host.Statuses);
    }

    // ---- neighbour reachability (spec §6.4) -----------------------------------------------------------------------------

    [Fact]
    public void Reachability_query_comes_only_when_both_views_are_stale()
    {
        var parameters = OffloadParameters.Default with { NceStaleTicks = 2000 };
        // Progress keeps the NIC's view fresh: no query however long the transfer runs.
        {
            var (lab, _, ctx) = Offloaded(new OffloadTargetOptions { Parameters = parameters });
            using var __ = lab;
            for (int i = 0; i < 6; i++)
            {
                lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(1000)));
                lab.RunFor(TimeSpan.FromSeconds(1));
            }
            Assert.Empty(lab.Host.NeighborEvents);
        }
        // A blackholed peer: nothing moves, both views age past NceStaleTicks, the next send asks the host.
        {
            var (lab, _, ctx) = Offloaded(new OffloadTargetOptions { Parameters = parameters });
            using var __ = lab;
            lab.DropToPeer = _ => true;
            lab.RunFor(TimeSpan.FromSeconds(3));
            lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(1000)));
            lab.RunUntil(() => lab.Host.NeighborEvents.Count > 0, TimeSpan.FromSeconds(1));
            var (block, code) = lab.Host.NeighborEvents[0];
            Assert.Equal(NeighborEventCode.Query, code);
            Assert.Equal(OffloadBlockType.NeighborOffloadState, block.Type);
            uint nrd = block.NeighborDelegated!.Value.NicReachabilityDelta;
            Assert.True(nrd > 2000, $"NRD {nrd}");

            // The host answered HRD 0 (its entry is stale too): HRT = now mutes further queries for NceStaleTicks
            // (spec §6.4, §10 row 55), however much is sent meanwhile; after that the still-silent peer is asked about again.
            var answeredAt = lab.Now;
            for (int i = 0; i < 3; i++)
            {
                lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(100, seed: i)));
                lab.RunFor(TimeSpan.FromMilliseconds(500));
            }
            Assert.Single(lab.Host.NeighborEvents);
            lab.RunUntil(() => lab.Host.NeighborEvents.Count > 1, TimeSpan.FromSeconds(10));
            Assert.True(lab.Now - answeredAt > TimeSpan.FromSeconds(2), $"second query after {(lab.Now - answeredAt).TotalMilliseconds} ms");
        }
    }
}
