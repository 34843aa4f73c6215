namespace OffloadEmu.Target.Tests;

/// <summary>Spec §6.3 optional upload reasons as configurable policies: each fires only when enabled, once per offload,
/// only in ESTABLISHED, and the connection keeps working when the host declines.</summary>
public sealed class PolicyTests
{
    private static (TargetLab Lab, ulong Context) Offloaded(OffloadTargetOptions options)
    {
        var lab = new TargetLab(options);
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        return (lab, tcp.MiniportOffloadContext!.Context);
    }

    private static OffloadTargetOptions With(TcpUploadReason reason, OffloadTargetOptions? options = null)
        => (options ?? new OffloadTargetOptions()) with { OptionalRetrieveReasons = new HashSet<TcpUploadReason> { reason } };

    private static int Retrieves(TargetLab lab, TcpUploadReason reason)
        => lab.Host.Events.Count(e => e.Type == TcpOffloadEventType.Retrieve && e.Info == (uint)reason);

    /// <summary>After a declined suggestion the connection still moves data both ways.</summary>
    private static void StillWorks(TargetLab lab, ulong ctx)
    {
        var data = Nbls.Pattern(20_000, seed: 77);
        var send = Nbls.Send(data);
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadSend(ctx, send));
        lab.RunUntil(() => lab.Host.SendsCompleted.Contains(send), TimeSpan.FromSeconds(10));
        Assert.Equal(NdisStatus.Success, send.Status);
        Assert.EndsWith(Convert.ToHexString(data), Convert.ToHexString(lab.PeerReceived.ToArray()));
    }

    [Fact]
    public void Low_activity_is_suggested_once_after_the_idle_timeout_only_when_enabled()
    {
        {
            var (lab, _) = Offloaded(new OffloadTargetOptions { LowActivityTimeout = TimeSpan.FromSeconds(5) });
            using var _ = lab;
            lab.RunFor(TimeSpan.FromSeconds(30));
            Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Retrieve)); // policy off
        }
        {
            var (lab, ctx) = Offloaded(With(TcpUploadReason.LowActivity, new OffloadTargetOptions { LowActivityTimeout = TimeSpan.FromSeconds(5) }));
            using var _ = lab;
            var start = lab.Now;
            lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Retrieve), TimeSpan.FromSeconds(30));
            Assert.InRange(lab.Now - start, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(6.5));
            lab.RunFor(TimeSpan.FromSeconds(30));
            Assert.Equal(1, Retrieves(lab, TcpUploadReason.LowActivity)); // once, not every sweep
            StillWorks(lab, ctx); // declined: nothing refused
        }
    }

    [Fact]
    public void Small_io_is_suggested_for_tiny_sends_and_not_for_large_ones()
    {
        var (lab, ctx) = Offloaded(With(TcpUploadReason.SmallIO, new OffloadTargetOptions { SmallIoWindow = 16, SmallIoBytes = 100 }));
        using var _ = lab;
        for (int i = 0; i < 16; i++) lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(4000, seed: i)));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 16, TimeSpan.FromSeconds(10));
        Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Retrieve));
        for (int i = 0; i < 16; i++) lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(10, seed: i)));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 32, TimeSpan.FromSeconds(10));
        Assert.Equal(1, Retrieves(lab, TcpUploadReason.SmallIO));
        StillWorks(lab, ctx);
    }

    [Fact]
    public void No_buffer_preposting_is_suggested_after_indications_without_posts_and_reset_by_a_post()
    {
        var (lab, ctx) = Offloaded(With(TcpUploadReason.NoBufferPreposting, new OffloadTargetOptions { NoBufferPrepostingIndications = 4 }));
        using var _ = lab;
        void PeerWrite(int n)
        {
            int before = lab.Host.Indications.Count + lab.Host.ReceivesCompleted.Count;
            lab.Peer.Enqueue(new MemorySendBuffer(Nbls.Pattern(100, seed: n)));
            lab.RunUntil(() => lab.Host.Indications.Count + lab.Host.ReceivesCompleted.Count > before, TimeSpan.FromSeconds(1));
            lab.Host.ReturnAccepted();
        }
        for (int i = 0; i < 3; i++) PeerWrite(i);
        lab.Api.TcpOffloadReceive(ctx, Nbls.Post(100)); // a post resets the count
        PeerWrite(3);
        for (int i = 4; i < 7; i++) PeerWrite(i);
        Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Retrieve));
        PeerWrite(7); // the fourth indication in a row without a post
        Assert.Equal(1, Retrieves(lab, TcpUploadReason.NoBufferPreposting));
        StillWorks(lab, ctx);
    }

    [Fact]
    public void High_drop_rate_is_suggested_under_loss_and_not_without()
    {
        var options = With(TcpUploadReason.HighDropRate, new OffloadTargetOptions { HighDropRateWindow = 50, HighDropRateThreshold = 0.05 });
        {
            var (lab, ctx) = Offloaded(options);
            using var _ = lab;
            lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(300_000)));
            lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(30));
            Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Retrieve));
        }
        {
            var (lab, ctx) = Offloaded(options);
            using var _ = lab;
            var loss = new Random(5);
            lab.DropToPeer = _ => loss.NextDouble() < 0.15;
            lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(300_000)));
            lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromMinutes(2));
            Assert.Equal(1, Retrieves(lab, TcpUploadReason.HighDropRate));
            lab.DropToPeer = null;
            StillWorks(lab, ctx);
        }
    }

    [Fact]
    public void High_fragmentation_counts_fragments_from_the_peer_that_went_up()
    {
        var (lab, ctx) = Offloaded(With(TcpUploadReason.HighFragmentation, new OffloadTargetOptions { HighFragmentationThreshold = 3 }));
        using var _ = lab;
        for (int i = 0; i < 3; i++)
        {
            var fragment = new byte[14 + 20 + 16];
            new EthernetRepr(lab.PeerSide.MacAddress, lab.NicSide.MacAddress, EtherType.Ipv4).Emit(fragment);
            new Ipv4Repr(TargetLab.PeerIp, TargetLab.HostIp, IpProtocol.Tcp, 16, identification: (ushort)(100 + i), moreFragments: true)
                .Emit(fragment.AsSpan(14));
            lab.Inject(fragment);
            lab.Step();
            Assert.Equal(i == 2, lab.Host.HasEvent(TcpOffloadEventType.Retrieve));
        }
        Assert.Equal(3, lab.Host.Frames.Count); // they still went up to the host
        Assert.Equal(1, Retrieves(lab, TcpUploadReason.HighFragmentation));
        StillWorks(lab, ctx);
    }

    [Fact]
    public void High_out_of_order_is_suggested_when_holes_pile_up_and_declining_keeps_the_data_flowing()
    {
        var (lab, _) = Offloaded(With(TcpUploadReason.HighOutOfOrderPackets, new OffloadTargetOptions { HighOutOfOrderThreshold = 3 }));
        using var _ = lab;
        var seq = lab.Peer.SndNxt;
        var data = Nbls.Pattern(800, seed: 3);
        // Segments 2, 4, 6 of eight 100-byte pieces: three separate holes.
        foreach (int k in new[] { 1, 3, 5 })
            lab.Inject(lab.FrameFromPeer(Segment(lab, seq + k * 100, data.AsSpan(k * 100, 100))));
        lab.Step();
        Assert.Equal(1, Retrieves(lab, TcpUploadReason.HighOutOfOrderPackets));
        // Declined: the holes are filled and every byte arrives in order.
        foreach (int k in new[] { 0, 2, 4, 6, 7 })
            lab.Inject(lab.FrameFromPeer(Segment(lab, seq + k * 100, data.AsSpan(k * 100, 100))));
        // (Step, not RunUntil: the peer machine never sent these bytes, so it would argue with the target's ACKs.)
        for (int i = 0; i < 4; i++) lab.Step();
        Assert.Equal(data, lab.Host.IndicatedData.ToArray());
    }

    private static byte[] Segment(TargetLab lab, SeqNumber seq, ReadOnlySpan<byte> payload) => TargetLab.Segment(new TcpRepr
    {
        SourcePort = TargetLab.RemotePort,
        DestinationPort = TargetLab.LocalPort,
        SequenceNumber = seq,
        AckNumber = lab.Peer.RcvNxt,
        Flags = TcpFlags.Ack,
        Window = 1000,
        Options = TargetLab.PeerTimestamps(lab),
    }, payload);
}
