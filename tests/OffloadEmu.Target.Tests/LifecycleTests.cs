namespace OffloadEmu.Target.Tests;

/// <summary>Spec §6.1–§6.3, §6.5, §6.6: disconnect, peer FIN/RST, blind-reset rules, terminate (upload) and re-offload.</summary>
public sealed class LifecycleTests
{
    private static (TargetLab Lab, TcpMachine HostSide, OffloadBlock Root, ulong Context) Offloaded(OffloadTargetOptions? options = null,
        TcpConfig? peerConfig = null)
    {
        var lab = new TargetLab(options, peerConfig);
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        return (lab, host, root, tcp.MiniportOffloadContext!.Context);
    }

    private static NetBufferList EmptyNbl(ulong id = 0)
    {
        var nbl = new NetBufferList { RequestId = id };
        nbl.AddBuffer();
        return nbl;
    }

    private static OffloadBlock TcpOf(OffloadBlock root)
        => OffloadTree.Traverse(root).Select(v => v.Block).Single(b => b.Type == OffloadBlockType.TcpOffloadState);

    [Fact]
    public void Graceful_disconnect_sends_data_then_fin_and_completes_only_when_the_fin_is_acked()
    {
        var (lab, _, _, ctx) = Offloaded();
        using var __ = lab;
        var data = Nbls.Pattern(5_000, seed: 5); // within the initial window: data and FIN go out without ACKs
        var send = Nbls.Send(data);
        lab.Api.TcpOffloadSend(ctx, send);
        lab.DropToPeer = _ => true;
        var fin = EmptyNbl();
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadDisconnect(ctx, fin, TcpDisconnectFlags.Graceful));
        lab.RunFor(TimeSpan.FromMilliseconds(500));
        Assert.Empty(lab.Host.DisconnectsCompleted); // FIN sent but not ACKed
        Assert.Contains(lab.TargetSegments(), s => (s.Tcp.Flags & TcpFlags.Fin) != 0);

        lab.DropToPeer = null;
        lab.RunUntil(() => lab.Host.DisconnectsCompleted.Count == 1, TimeSpan.FromSeconds(10));
        Assert.Equal(NdisStatus.Success, fin.Status);
        Assert.Single(lab.Host.SendsCompleted);
        Assert.Equal(NdisStatus.Success, send.Status);
        Assert.Equal(data, lab.PeerReceived.ToArray());
        Assert.Equal(TcpState.CloseWait, lab.Peer.State); // only our half is closed
        Assert.DoesNotContain(lab.TargetSegments(), s => (s.Tcp.Flags & TcpFlags.Rst) != 0);
        // FIN is the last sequence number: it follows every data byte.
        var finSeg = lab.TargetSegments().First(s => (s.Tcp.Flags & TcpFlags.Fin) != 0);
        var lastData = lab.TargetSegments().Where(s => s.PayloadLength > 0).Max(s => s.Tcp.SequenceNumber.Value + (uint)s.PayloadLength);
        Assert.Equal(lastData, finSeg.Tcp.SequenceNumber.Value + (uint)finSeg.PayloadLength);
    }

    [Fact]
    public void Abortive_disconnect_sends_one_rst_and_fails_pending_io_with_request_aborted()
    {
        var (lab, _, _, ctx) = Offloaded(peerConfig: TcpConfig.Default with { ReceiveBufferSize = 16 * 1024, Sack = true });
        using var __ = lab;
        lab.PeerReads = false; // the peer's window closes: the send stays pending, and the RST lands exactly on RcvNxt
        var send = Nbls.Send(Nbls.Pattern(50_000));
        var post = Nbls.Post(1000);
        lab.Api.TcpOffloadSend(ctx, send);
        lab.Api.TcpOffloadReceive(ctx, post);
        lab.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.Empty(lab.Host.SendsCompleted);
        var abort = EmptyNbl();
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadDisconnect(ctx, abort, TcpDisconnectFlags.Abortive));
        lab.RunUntil(() => lab.Host.DisconnectsCompleted.Count == 1 && lab.Host.SendsCompleted.Count == 1 && lab.Host.ReceivesCompleted.Count == 1,
            TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.RequestAborted, send.Status);
        Assert.Equal(NdisStatus.RequestAborted, post.Status);
        Assert.Single(lab.TargetSegments(), s => (s.Tcp.Flags & TcpFlags.Rst) != 0);
        Assert.Equal(TcpState.Closed, lab.Peer.State);
        // Later I/O fails at once (through the completion path), never PENDING forever.
        var late = Nbls.Send(Nbls.Pattern(10));
        lab.Api.TcpOffloadSend(ctx, late);
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 2, TimeSpan.FromSeconds(1));
        Assert.NotEqual(NdisStatus.Success, late.Status);
    }

    [Fact]
    public void Peer_rst_at_rcv_nxt_indicates_abort_and_fails_pending_io()
    {
        var (lab, _, _, ctx) = Offloaded();
        using var __ = lab;
        var post = Nbls.Post(1000);
        lab.Api.TcpOffloadReceive(ctx, post);
        lab.Step();
        lab.Peer.Abort();
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Abort) && lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.RequestAborted, post.Status);
        Assert.DoesNotContain(lab.TargetSegments(), s => (s.Tcp.Flags & TcpFlags.Rst) != 0); // a target never answers RST with RST
    }

    [Fact]
    public void In_window_rst_off_rcv_nxt_gets_a_challenge_ack_and_out_of_window_rst_is_dropped()
    {
        var (lab, _, _, _) = Offloaded();
        using var __ = lab;
        var rcvNxt = lab.Peer.SndNxt; // what the target expects next
        int before = lab.TargetSegments().Count();
        lab.Inject(lab.FrameFromPeer(TargetLab.Segment(Rst(rcvNxt + 100), [])));
        lab.Step();
        var after = lab.TargetSegments().Skip(before).ToList();
        var challenge = Assert.Single(after);
        Assert.Equal(TcpFlags.Ack, challenge.Tcp.Flags & (TcpFlags.Ack | TcpFlags.Rst | TcpFlags.Syn | TcpFlags.Fin));
        Assert.Equal(rcvNxt, challenge.Tcp.AckNumber);
        Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Abort));

        before = lab.TargetSegments().Count();
        lab.Inject(lab.FrameFromPeer(TargetLab.Segment(Rst(rcvNxt + 10_000_000), [])));
        lab.Step();
        Assert.Equal(before, lab.TargetSegments().Count()); // dropped silently
        Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Abort));

        // The connection still works.
        lab.Peer.Enqueue(new MemorySendBuffer(Nbls.Pattern(100)));
        lab.RunUntil(() => lab.Host.Indications.Count > 0, TimeSpan.FromSeconds(1));
    }

    private static TcpRepr Rst(SeqNumber seq) => new()
    {
        SourcePort = TargetLab.RemotePort,
        DestinationPort = TargetLab.LocalPort,
        SequenceNumber = seq,
        Flags = TcpFlags.Rst,
    };

    [Fact]
    public void Terminate_mid_nbl_with_completing_disposition_gives_one_partial_completion_then_upload_in_progress()
    {
        // Spec §10 row 14 (TerminateSendDisposition.Complete): upload mid-NBL -> one partial NBL with its ACKed count, the
        // later ones UPLOAD_IN_PROGRESS with 0, all before the terminate completes; the host resends from its copies.
        var (lab, hostBefore, root, ctx) = Offloaded(new OffloadTargetOptions { TerminateSends = TerminateSendDisposition.Complete });
        using var __ = lab;
        var toPeer = Nbls.Pattern(200_000, seed: 31);
        var sends = new List<NetBufferList>();
        for (int i = 0; i < 4; i++)
        {
            sends.Add(Nbls.Send(toPeer.AsSpan(i * 50_000, 50_000).ToArray(), id: (ulong)i));
            lab.Api.TcpOffloadSend(ctx, sends[^1]);
        }
        // Move until the peer has acknowledged part of a list: the upload then lands inside it.
        lab.RunUntil(() => lab.PeerReceived.Length > 60_000 && lab.PeerReceived.Length % 50_000 != 0, TimeSpan.FromSeconds(5));
        lab.Step();
        int completedBefore = lab.Host.SendsCompleted.Count;
        Assert.InRange(completedBefore, 1, 3);

        Assert.Equal(NdisStatus.Pending, lab.Api.TerminateOffload(root));
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
        var tcp = TcpOf(root);
        var d = tcp.TcpDelegated!;
        Assert.Equal(NdisStatus.Success, tcp.Status);
        Assert.Null(tcp.NetBufferListChain);
        Assert.Null(d.SendDataHead);
        Assert.Equal(4, lab.Host.SendsCompleted.Count);   // every list came back by completion, before the terminate completion
        var uploaded = lab.Host.SendsCompleted.Skip(completedBefore).ToList();
        Assert.Equal(sends.Skip(completedBefore), uploaded);
        Assert.All(uploaded, n => Assert.Equal(NdisStatus.UploadInProgress, n.Status));
        long ackedBefore = (long)(d.SndUna - hostBefore.SndUna);
        int partial = (int)(ackedBefore - completedBefore * 50_000L);
        Assert.InRange(partial, 1, 49_999);                     // mid-NBL
        Assert.Equal(partial, uploaded[0].TcpOffloadBytesTransferred);
        Assert.Equal(50_000 - partial, (int)uploaded[0].DataLength); // its NB advanced past the ACKed bytes
        Assert.All(uploaded.Skip(1), n => Assert.Equal(0, n.TcpOffloadBytesTransferred));

        // The host resends what is left of its own lists in host mode: the peer gets the stream once, in order.
        foreach (var n in uploaded) n.Next = null;
        var host = TcpMachine.FromOffloadState(TcpConfig.Default with { ReceiveBufferSize = 64 * 1024, Sack = true },
            TcpEndpointAddresses.Ipv4(TargetLab.HostIp, TargetLab.PeerIp), tcp.TcpConst!.Value, tcp.TcpCached!.Value, d,
            uploaded.Select(n => (ITcpSendBuffer)new NetBufferListSendBuffer(n)).ToArray(), 0, [], lab.Now);
        lab.HostMachine = host;
        lab.RunUntil(() => lab.PeerReceived.Length == toPeer.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(toPeer, lab.PeerReceived.ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    public void Terminate_while_bytes_are_held_for_the_next_indication_returns_them_as_buffered_data_in_order(int steps)
    {
        // Bytes arriving while an indication is out are held in the next indication's buffer, not in the ring: at
        // terminate they must come back in BufferedData, after what was indicated and before nothing else.
        var (lab, hostBefore, root, _) = Offloaded();
        using var __ = lab;
        lab.Host.RecordInOrder = true;
        var fromPeer = Nbls.Pattern(300_000, seed: 31);
        lab.Peer.Enqueue(new MemorySendBuffer(fromPeer));
        for (int i = 0; i < steps; i++) lab.Step();
        Assert.Equal(NdisStatus.Pending, lab.Api.TerminateOffload(root));
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
        var tcp = TcpOf(root);
        Assert.Equal(NdisStatus.Success, tcp.Status);
        var d = tcp.TcpDelegated!;
        var buffered = d.BufferedData is { } b ? ReadAll(b) : [];
        var indicated = lab.Host.ReceivedInOrder.ToArray();
        int delivered = (int)(d.RcvNxt - hostBefore.RcvNxt);
        Assert.Equal(delivered, indicated.Length + buffered.Length);
        Assert.Equal(fromPeer.AsSpan(0, delivered).ToArray(), indicated.Concat(buffered).ToArray());
        if (d.BufferedData is not null) Assert.Equal(NdisStatus.Success, lab.Api.TcpOffloadReceiveReturn(d.BufferedData));
        lab.Host.ReturnAccepted();
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Fact]
    public void Terminate_returns_state_unacked_sends_and_undelivered_data_and_the_host_continues_byte_exact_then_reoffloads()
    {
        var (lab, hostBefore, root, ctx) = Offloaded();
        using var __ = lab;
        var toPeer = Nbls.Pattern(200_000, seed: 21);
        var fromPeer = Nbls.Pattern(40_000, seed: 22);
        lab.Host.Answer = _ => (NdisStatus.OffloadDataNotAccepted, 0); // refuse: peer data stays in the target
        // Four send lists, some of which will still be in flight when the upload starts.
        for (int i = 0; i < 4; i++)
            lab.Api.TcpOffloadSend(ctx, Nbls.Send(toPeer.AsSpan(i * 50_000, 50_000).ToArray(), id: (ulong)i));
        lab.Peer.Enqueue(new MemorySendBuffer(fromPeer));
        for (int i = 0; i < 6; i++) lab.Step(); // part of the data moves, not all of it
        int completedBefore = lab.Host.SendsCompleted.Count;
        Assert.True(completedBefore < 4, "the upload should find unacknowledged sends");

        Assert.Equal(NdisStatus.Pending, lab.Api.TerminateOffload(root));
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
        var tcp = TcpOf(root);
        Assert.Equal(NdisStatus.Success, tcp.Status);
        Assert.Equal(0, lab.Target.ConnectionCount);
        var d = tcp.TcpDelegated!;
        Assert.Equal(TcpState.Established, d.State);
        Assert.True(d.SndUna <= d.SndNxt && d.SndNxt <= d.SndMax);

        // Returned sends: the not-yet-completed lists, in order; the head starts at SndUna.
        var returned = new List<NetBufferList>();
        for (var n = d.SendDataHead; n is not null; n = n.Next) returned.Add(n);
        Assert.Same(d.SendDataHead, tcp.NetBufferListChain);
        if (returned.Count > 0) Assert.Same(returned[^1], d.SendDataTail);
        Assert.Equal(Enumerable.Range(completedBefore, 4 - completedBefore).Select(i => (ulong)i), returned.Select(n => n.RequestId));
        long completedBytes = lab.Host.SendsCompleted.Sum(n => n.TcpOffloadBytesTransferred);
        long returnedBytes = returned.Sum(n => n.DataLength);
        // The returned data starts exactly at SndUna: everything before it was ACKed (completed lists plus the head's
        // ACKed part, which the target advanced off the head).
        Assert.Equal(toPeer.Length - returnedBytes, (long)(d.SndUna - hostBefore.SndUna));
        Assert.True(completedBytes <= toPeer.Length - returnedBytes);

        // Undelivered receive data comes back as BufferedData (the indication was refused).
        var buffered = d.BufferedData is { } b ? ReadAll(b) : [];
        Assert.True(buffered.Length > 0, "the refused peer data should be returned");
        Assert.Equal(fromPeer.AsSpan(0, buffered.Length).ToArray(), buffered);
        if (d.BufferedData is not null) Assert.Equal(NdisStatus.Success, lab.Api.TcpOffloadReceiveReturn(d.BufferedData));

        // The host continues in host mode from exactly that state.
        var sendBuffers = returned.Select(n => (ITcpSendBuffer)new NetBufferListSendBuffer(n)).ToArray();
        foreach (var n in returned) n.Next = null;
        var host = TcpMachine.FromOffloadState(TcpConfig.Default with { ReceiveBufferSize = 64 * 1024, Sack = true },
            TcpEndpointAddresses.Ipv4(TargetLab.HostIp, TargetLab.PeerIp), tcp.TcpConst!.Value, tcp.TcpCached!.Value, d,
            sendBuffers, 0, buffered, lab.Now);
        lab.HostMachine = host;
        lab.RunUntil(() => lab.PeerReceived.Length == toPeer.Length && lab.HostReceived.Length == fromPeer.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(toPeer, lab.PeerReceived.ToArray());
        Assert.Equal(fromPeer, lab.HostReceived.ToArray());
        Assert.DoesNotContain(lab.TargetSegments(), s => (s.Tcp.Flags & TcpFlags.Rst) != 0);

        // ...and offloads it again: new data goes through the target, still in sequence.
        lab.RunFor(TimeSpan.FromMilliseconds(300)); // let every ACK settle before the state is exported
        lab.HostMachine = null;
        var root2 = lab.BuildTree(host, out var tcp2, handleBase: 0x200);
        lab.Api.InitiateOffload(root2);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root2), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp2.Status);
        var more = Nbls.Pattern(30_000, seed: 23);
        var send = Nbls.Send(more);
        lab.Api.TcpOffloadSend(tcp2.MiniportOffloadContext!.Context, send);
        lab.RunUntil(() => send.Status == NdisStatus.Success && lab.Host.SendsCompleted.Contains(send), TimeSpan.FromSeconds(10));
        Assert.Equal(toPeer.Concat(more).ToArray(), lab.PeerReceived.ToArray());
    }

    private static byte[] ReadAll(NetBufferList chain)
    {
        var stream = new MemoryStream();
        for (var n = chain; n is not null; n = n.Next)
        {
            var bytes = new byte[n.DataLength];
            n.CopyTo(0, bytes);
            stream.Write(bytes);
        }
        return stream.ToArray();
    }

    [Fact]
    public void Terminate_completes_pending_posts_and_empty_ones_get_upload_in_progress()
    {
        var (lab, _, root, ctx) = Offloaded();
        using var __ = lab;
        var partial = Nbls.Post(5000, noPush: true);
        var empty = Nbls.Post(5000, noPush: true);
        lab.Api.TcpOffloadReceive(ctx, Nbls.Chain(partial, empty));
        lab.Peer.Enqueue(new MemorySendBuffer(Nbls.Pattern(1200)));
        lab.RunFor(TimeSpan.FromMilliseconds(50));
        Assert.Empty(lab.Host.ReceivesCompleted); // non-push: held
        lab.Api.TerminateOffload(root);
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(2, lab.Host.ReceivesCompleted.Count);
        Assert.Equal(NdisStatus.Success, partial.Status);
        Assert.Equal(1200, partial.TcpOffloadBytesTransferred);
        Assert.Equal(NdisStatus.UploadInProgress, empty.Status);
        // The host's requests were all completed before the terminate: its completion is the last callback.
        Assert.Null(TcpOf(root).TcpDelegated!.BufferedData);
    }

    [Fact]
    public void Io_on_an_unknown_context_is_aborted_and_io_during_upload_gets_upload_in_progress()
    {
        var (lab, _, root, ctx) = Offloaded();
        using var __ = lab;
        lab.ExpectedViolations.Add(ContractRule.IoOnUnknownConnection); // on purpose: the target must survive it
        var stray = Nbls.Send(Nbls.Pattern(10));
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadSend(0xDEAD_BEEF, stray));
        lab.RunUntil(() => lab.Host.SendsCompleted.Contains(stray), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.RequestAborted, stray.Status);

        lab.Target.RequestUpload(ctx);
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Retrieve), TimeSpan.FromSeconds(1));
        Assert.Contains(lab.Host.Events, e => e.Type == TcpOffloadEventType.Retrieve && e.Info == (uint)TcpUploadReason.UploadRequested);
        var late = Nbls.Send(Nbls.Pattern(10));
        lab.Api.TcpOffloadSend(ctx, late);
        lab.RunUntil(() => lab.Host.SendsCompleted.Contains(late), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.UploadInProgress, late.Status);
        lab.Api.TerminateOffload(root);
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void Terminate_sends_the_owed_delayed_ack_before_it_completes_and_passes_later_arrivals_up()
    {
        var (lab, _, root, ctx) = Offloaded();
        using var __ = lab;
        lab.Api.TcpOffloadReceive(ctx, Nbls.Post(4000));
        lab.Peer.Enqueue(new MemorySendBuffer(Nbls.Pattern(500))); // one segment: its ACK is delayed (TcpAckFrequency 2)
        lab.Step();
        var expectedAck = lab.Peer.SndNxt;
        Assert.DoesNotContain(lab.TargetSegments(), s => s.Tcp.AckNumber == expectedAck);
        int hostSawAckAtTerminate = -1;
        lab.Api.TerminateOffload(root);
        lab.RunUntil(() =>
        {
            if (lab.Host.Terminated.Contains(root) && hostSawAckAtTerminate < 0)
                hostSawAckAtTerminate = lab.TargetSegments().Count(s => s.Tcp.AckNumber == expectedAck);
            return hostSawAckAtTerminate >= 0;
        }, TimeSpan.FromMilliseconds(50)); // well before the 200 ms delayed-ACK timer
        Assert.True(hostSawAckAtTerminate > 0, "the owed ACK went out before the terminate completed (spec §6.6)");

        // After the upload the target no longer handles the connection: the peer's next segment goes up unchanged.
        int framesUp = lab.Host.Frames.Count;
        lab.Peer.Enqueue(new MemorySendBuffer(Nbls.Pattern(100)));
        lab.Step();
        Assert.True(lab.Host.Frames.Count > framesUp);
    }
}
