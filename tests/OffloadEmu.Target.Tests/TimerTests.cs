namespace OffloadEmu.Target.Tests;

/// <summary>Spec §6.8 and §10 rows 18–26, 46, 54: timers, timeouts that ask for upload, loss recovery, ACK policy,
/// timestamps across offload and upload.</summary>
public sealed class TimerTests
{
    private static (TargetLab Lab, OffloadBlock Root, ulong Context) Offloaded(Func<TcpCachedState, TcpCachedState>? cached = null,
        OffloadParameters? parameters = null, TcpMachine? host = null, TargetLab? lab = null, Action<TcpDelegatedState>? delegated = null)
    {
        lab ??= new TargetLab(new OffloadTargetOptions { Parameters = parameters ?? OffloadParameters.Default });
        host ??= lab.Establish();
        var root = lab.BuildTree(host, out var tcp, handleBase: 0x100 + (ulong)lab.Host.Initiated.Count * 0x10);
        if (cached is not null) tcp.TcpCached = cached(tcp.TcpCached!.Value);
        delegated?.Invoke(tcp.TcpDelegated!);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        return (lab, root, tcp.MiniportOffloadContext!.Context);
    }

    private static OffloadBlock TcpOf(OffloadBlock root)
        => OffloadTree.Traverse(root).Select(v => v.Block).Single(b => b.Type == OffloadBlockType.TcpOffloadState);

    private static bool Retrieved(TargetLab lab, TcpUploadReason reason)
        => lab.Host.Events.Exists(e => e.Type == TcpOffloadEventType.Retrieve && e.Info == (uint)reason);

    private static void Terminate(TargetLab lab, OffloadBlock root)
    {
        lab.Api.TerminateOffload(root);
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
    }

    private static NetBufferList EmptyNbl()
    {
        var nbl = new NetBufferList();
        nbl.AddBuffer();
        return nbl;
    }

    [Fact]
    public void Blackholed_peer_backs_off_then_asks_for_upload_with_timeout_expiration()
    {
        var (lab, root, ctx) = Offloaded(parameters: OffloadParameters.Default with { TcpMaximumRetransmissions = 4 });
        using var _ = lab;
        lab.DropToPeer = _ => true;
        var start = lab.Now;
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(1000)));
        lab.RunUntil(() => Retrieved(lab, TcpUploadReason.TimeoutExpiration), TimeSpan.FromMinutes(5));
        // The same first segment went out 1 + 4 times with growing gaps (RFC 6298 back-off).
        var copies = new List<Instant>();
        uint firstSeq = lab.TargetSegments().First(s => s.PayloadLength > 0).Tcp.SequenceNumber.Value;
        Assert.Equal(5, lab.TargetSegments().Count(s => s.PayloadLength > 0 && s.Tcp.SequenceNumber.Value == firstSeq));
        Terminate(lab, root);
        var d = TcpOf(root).TcpDelegated!;
        Assert.True(d.Retransmit.Count >= 4, $"retransmit count {d.Retransmit.Count}");
        Assert.True(lab.Now - start > TimeSpan.FromSeconds(3), "four backed-off RTOs take seconds, not milliseconds");
    }

    [Fact]
    public void Unlimited_max_rt_never_gives_up()
    {
        var (lab, _, ctx) = Offloaded(cached: c => c with { MaxRT = TcpCachedState.MaxRTUnlimited });
        using var _ = lab;
        lab.DropToPeer = _ => true;
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(1000)));
        lab.RunFor(TimeSpan.FromMinutes(10));
        Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Retrieve));
        Assert.True(lab.TargetSegments().Count(s => s.PayloadLength > 0) > 6, "it keeps retransmitting");
    }

    [Fact]
    public void Zero_window_is_probed_with_backoff_and_reopening_resumes_the_transfer()
    {
        var lab = new TargetLab(peerConfig: TcpConfig.Default with { ReceiveBufferSize = 8 * 1024, Sack = true });
        using var _ = lab;
        var (_, _, ctx) = Offloaded(lab: lab);
        lab.PeerReads = false;
        var data = Nbls.Pattern(40_000, seed: 8);
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(data));
        lab.RunFor(TimeSpan.FromSeconds(1));
        int sentBefore = lab.TargetSegments().Count();
        var start = lab.Now;
        lab.RunFor(TimeSpan.FromSeconds(20));
        var probes = lab.TargetSegments().Skip(sentBefore).ToList();
        Assert.InRange(probes.Count, 2, 8); // backed-off probes, not a flood and not silence
        Assert.Empty(lab.Host.SendsCompleted);
        lab.PeerReads = true;
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(30));
        Assert.Equal(data, lab.PeerReceived.ToArray());
    }

    [Fact]
    public void Keepalive_probes_an_idle_connection_and_a_silent_peer_is_uploaded_closed()
    {
        static TcpCachedState Ka(TcpCachedState c) => c with
        {
            Flags = c.Flags | TcpCachedFlags.KeepAliveEnabled, KaTimeout = 2000, KaInterval = 1000, KaProbeCount = 3,
        };
        // The host offloads with the keepalive timer running (delegated TimeoutDelta = KaTimeout; -1 would mean off).
        static void Running(TcpDelegatedState d) => d.KeepAlive = new TcpKeepAliveState(0, 2000);
        // A live peer answers: probes, no upload.
        {
            var (lab, _, _) = Offloaded(Ka, delegated: Running);
            using var _ = lab;
            lab.RunFor(TimeSpan.FromSeconds(10));
            Assert.True(lab.TargetSegments().Count() >= 3, "probes were sent");
            Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Retrieve));
        }
        // A silent peer: KaProbeCount probes one KaInterval apart, then Retrieve(TimeoutExpiration), uploaded CLOSED.
        {
            var (lab, root, _) = Offloaded(Ka, delegated: Running);
            using var _ = lab;
            lab.DropToPeer = _ => true;
            var start = lab.Now;
            lab.RunUntil(() => Retrieved(lab, TcpUploadReason.TimeoutExpiration), TimeSpan.FromSeconds(30));
            var elapsed = lab.Now - start;
            Assert.InRange(elapsed, TimeSpan.FromSeconds(4.9), TimeSpan.FromSeconds(5.2)); // 2 s idle + 3 × 1 s
            Assert.Equal(3, lab.TargetSegments().Count());
            Terminate(lab, root);
            Assert.Equal(TcpState.Closed, TcpOf(root).TcpDelegated!.State);
        }
    }

    [Fact]
    public void Closing_first_ends_in_time_wait_which_asks_for_upload()
    {
        var (lab, root, ctx) = Offloaded();
        using var _ = lab;
        lab.Api.TcpOffloadDisconnect(ctx, EmptyNbl(), TcpDisconnectFlags.Graceful);
        lab.RunUntil(() => lab.Host.DisconnectsCompleted.Count == 1, TimeSpan.FromSeconds(1));
        Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Retrieve)); // FIN_WAIT_2: no retrieve (spec §6.3)
        lab.Peer.Close();
        lab.RunUntil(() => Retrieved(lab, TcpUploadReason.UploadRequested), TimeSpan.FromSeconds(1));
        Assert.True(lab.Host.HasEvent(TcpOffloadEventType.Disconnect));
        Terminate(lab, root);
        Assert.Equal(TcpState.TimeWait, TcpOf(root).TcpDelegated!.State);
    }

    [Fact]
    public void Fin_wait_2_times_out_after_two_minutes_with_timeout_expiration()
    {
        var (lab, _, ctx) = Offloaded();
        using var _ = lab;
        lab.Api.TcpOffloadDisconnect(ctx, EmptyNbl(), TcpDisconnectFlags.Graceful);
        lab.RunUntil(() => lab.Host.DisconnectsCompleted.Count == 1, TimeSpan.FromSeconds(1));
        var start = lab.Now;
        lab.RunUntil(() => Retrieved(lab, TcpUploadReason.TimeoutExpiration), TimeSpan.FromMinutes(5));
        Assert.InRange(lab.Now - start, TimeSpan.FromSeconds(119), TimeSpan.FromSeconds(121));
    }

    [Fact]
    public void Loss_both_ways_is_recovered_and_every_byte_arrives_once_in_order()
    {
        var (lab, _, ctx) = Offloaded();
        using var _ = lab;
        var toPeerLoss = new Random(31);
        var toTargetLoss = new Random(32);
        lab.DropToPeer = _ => toPeerLoss.NextDouble() < 0.03;
        lab.DropToTarget = _ => toTargetLoss.NextDouble() < 0.03;
        var up = Nbls.Pattern(400_000, seed: 33);
        var down = Nbls.Pattern(400_000, seed: 34);
        for (int i = 0; i < 8; i++) lab.Api.TcpOffloadSend(ctx, Nbls.Send(up.AsSpan(i * 50_000, 50_000).ToArray()));
        lab.Peer.Enqueue(new MemorySendBuffer(down));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 8 && lab.Host.IndicatedData.Length == down.Length, TimeSpan.FromMinutes(2));
        Assert.Equal(up, lab.PeerReceived.ToArray());
        Assert.Equal(down, lab.Host.IndicatedData.ToArray());
        Assert.True(lab.Target.QueryTcpStatistics(false).RetransmittedSegments > 0, "3 % loss must have cost retransmissions");
        Assert.All(lab.Host.SendsCompleted, n => Assert.Equal(NdisStatus.Success, n.Status));
    }

    [Fact]
    public void Ack_frequency_two_acks_every_second_full_segment()
    {
        var (lab, _, _) = Offloaded(parameters: OffloadParameters.Default with { TcpAckFrequency = 2 });
        using var _ = lab;
        int before = lab.TargetSegments().Count();
        lab.Peer.Enqueue(new MemorySendBuffer(Nbls.Pattern(1448 * 20)));
        lab.RunUntil(() => lab.Host.IndicatedData.Length == 1448 * 20, TimeSpan.FromSeconds(1));
        lab.RunFor(TimeSpan.FromMilliseconds(300));
        int acks = lab.TargetSegments().Skip(before).Count(s => s.PayloadLength == 0);
        Assert.InRange(acks, 9, 12); // about one per two segments (plus window updates), not twenty
    }

    [Fact]
    public void Timestamps_never_go_back_across_offload_upload_and_reoffload_and_echo_ts_recent()
    {
        var lab = new TargetLab();
        using var _ = lab;
        var host = lab.Establish();
        // The host-mode machine runs on the lab's clock for a while before the offload (TSval keeps rising).
        lab.HostMachine = host;
        lab.RunFor(TimeSpan.FromMilliseconds(700));
        host.Enqueue(new MemorySendBuffer(Nbls.Pattern(5000)));
        lab.RunUntil(() => host.SendQueueBytes == 0 && lab.PeerReceived.Length == 5000, TimeSpan.FromSeconds(2));
        lab.HostMachine = null;
        lab.RunFor(TimeSpan.FromMilliseconds(50));
        var (_, root, ctx) = Offloaded(host: host, lab: lab);
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(20_000)));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(2));
        lab.RunFor(TimeSpan.FromMilliseconds(500));
        Terminate(lab, root);
        var tcp = TcpOf(root);
        var uploaded = TcpMachine.FromOffloadState(TcpConfig.Default with { ReceiveBufferSize = 64 * 1024, Sack = true },
            TcpEndpointAddresses.Ipv4(TargetLab.HostIp, TargetLab.PeerIp), tcp.TcpConst!.Value, tcp.TcpCached!.Value, tcp.TcpDelegated!,
            [], 0, [], lab.Now);
        lab.HostMachine = uploaded;
        uploaded.Enqueue(new MemorySendBuffer(Nbls.Pattern(5000)));
        lab.RunUntil(() => lab.PeerReceived.Length == 5000 + 20_000 + 5000, TimeSpan.FromSeconds(2));

        uint last = 0;
        int checkedSegments = 0;
        foreach (var s in lab.TargetSegments())
        {
            if (s.Tcp.Options.Timestamps is not { } ts) continue;
            Assert.True(unchecked((int)(ts.TsVal - last)) >= 0 || last == 0, $"TSval went back from {last} to {ts.TsVal}");
            last = ts.TsVal;
            checkedSegments++;
        }
        Assert.True(checkedSegments > 10);
        // TSecr echoes the peer's latest TSval (TsRecent): the peer's own clock, never ours.
        var peerTsVal = lab.Peer.TsValAt(lab.Now);
        var lastEcr = lab.TargetSegments().Last(s => s.Tcp.Options.Timestamps is not null).Tcp.Options.Timestamps!.Value.TsEcr;
        Assert.True(unchecked(peerTsVal - lastEcr) < 1000, $"TSecr {lastEcr} vs peer clock {peerTsVal}");
    }

    [Fact]
    public void Upload_exports_timers_off_when_idle_and_remaining_ticks_when_running()
    {
        {
            var (lab, root, _) = Offloaded();
            using var _ = lab;
            lab.RunFor(TimeSpan.FromMilliseconds(100));
            Terminate(lab, root);
            Assert.Equal(TcpDelegatedState.TimerOff, TcpOf(root).TcpDelegated!.Retransmit.TimeoutDelta);
        }
        {
            var (lab, root, ctx) = Offloaded();
            using var _ = lab;
            lab.DropToPeer = _ => true;
            lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(1000)));
            lab.Step();
            lab.Now = lab.Now.AddMicroseconds(100_000);
            Terminate(lab, root);
            var delta = TcpOf(root).TcpDelegated!.Retransmit.TimeoutDelta;
            Assert.InRange(delta, 1, 1000); // RTO (≥ 200 ms floor, 1 s initial) less the 100 ms that passed, in ms ticks
        }
    }
}
