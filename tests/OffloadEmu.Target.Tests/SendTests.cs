namespace OffloadEmu.Target.Tests;

/// <summary>Spec §5 and §10 rows on send: ACK-gated completion, order and byte counts, segmentation, DF, IP-ID, PSH,
/// Nagle, send backlog.</summary>
public sealed class SendTests
{
    private static (TargetLab Lab, ulong Context) Offloaded(uint pathMtu = 1500, TcpConfig? peerConfig = null, bool nagle = true)
        => Offloaded(out _, pathMtu, peerConfig, nagle);

    private static (TargetLab Lab, ulong Context) Offloaded(out OffloadBlock root, uint pathMtu = 1500, TcpConfig? peerConfig = null, bool nagle = true)
    {
        var lab = new TargetLab(peerConfig: peerConfig);
        var host = lab.Establish(TcpConfig.Default with { ReceiveBufferSize = 64 * 1024, Sack = true, Nagle = nagle });
        var r = root = lab.BuildTree(host, out var tcp, pathMtu: pathMtu);
        lab.Api.InitiateOffload(r);
        lab.RunUntil(() => lab.Host.Initiated.Contains(r), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        return (lab, tcp.MiniportOffloadContext!.Context);
    }

    [Fact]
    public void Send_completes_only_after_the_peer_acks_every_byte()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        lab.DropToPeer = _ => true; // the peer hears nothing, so it ACKs nothing
        var data = Nbls.Pattern(20_000, seed: 3);
        var nbl = Nbls.Send(data);
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadSend(ctx, nbl));
        lab.RunFor(TimeSpan.FromMilliseconds(900));
        Assert.Empty(lab.Host.SendsCompleted);
        Assert.Contains(lab.TargetSegments(), s => s.PayloadLength > 0); // it was sent, just not ACKed

        lab.DropToPeer = null; // retransmission now reaches the peer
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(10));
        Assert.Equal(NdisStatus.Success, nbl.Status);
        Assert.Equal(data.Length, nbl.TcpOffloadBytesTransferred);
        Assert.Equal(data, lab.PeerReceived.ToArray());
    }

    [Fact]
    public void Send_held_by_a_zero_window_completes_when_the_peer_reads()
    {
        var (lab, ctx) = Offloaded(peerConfig: TcpConfig.Default with { ReceiveBufferSize = 16 * 1024, Sack = true });
        using var _ = lab;
        lab.PeerReads = false;
        var data = Nbls.Pattern(64 * 1024, seed: 4);
        var nbl = Nbls.Send(data);
        lab.Api.TcpOffloadSend(ctx, nbl);
        lab.RunFor(TimeSpan.FromSeconds(3)); // window closed, persist probes only
        Assert.Empty(lab.Host.SendsCompleted);
        lab.PeerReads = true;
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(30));
        Assert.Equal(data.Length, nbl.TcpOffloadBytesTransferred);
        Assert.Equal(data, lab.PeerReceived.ToArray());
    }

    [Fact]
    public void A_thousand_sends_complete_once_each_in_order_with_their_byte_counts()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        var random = new Random(7);
        var expected = new MemoryStream();
        var nbls = new List<NetBufferList>();
        var lengths = new List<long>();
        for (int i = 0; i < 1000; i++)
        {
            var data = Nbls.Pattern(random.Next(1, 3000), seed: i);
            expected.Write(data);
            var nbl = Nbls.Send(data, id: (ulong)i);
            nbls.Add(nbl);
            lengths.Add(data.Length);
            Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadSend(ctx, nbl));
            if (i % 37 == 0) lab.Step(); // interleave requests with wire activity
        }
        lab.RunUntil(() => lab.Host.SendsCompleted.Count >= 1000, TimeSpan.FromSeconds(30));
        Assert.Equal(1000, lab.Host.SendsCompleted.Count);
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (ulong)i), lab.Host.SendsCompleted.Select(n => n.RequestId));
        for (int i = 0; i < nbls.Count; i++) Assert.Equal(lengths[i], nbls[i].TcpOffloadBytesTransferred);
        Assert.All(nbls, n => Assert.Equal(NdisStatus.Success, n.Status));
        Assert.Equal(expected.ToArray(), lab.PeerReceived.ToArray());
    }

    [Fact]
    public void Segments_fit_the_path_mtu_carry_df_and_ip_ids_from_the_upper_half()
    {
        var (lab, ctx) = Offloaded(pathMtu: 1200);
        using var _ = lab;
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(50_000)));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(10));
        var data = lab.TargetSegments().Where(s => s.PayloadLength > 0).ToList();
        Assert.NotEmpty(data);
        Assert.All(data, s =>
        {
            Assert.True(s.Ip.PayloadLength + 20 <= 1200, $"IP packet of {s.Ip.PayloadLength + 20} bytes over a 1200-byte path MTU");
            Assert.True(s.Ip.DontFragment);
            Assert.InRange(s.Ip.Identification, (ushort)0x8000, (ushort)0xFFFF);
        });
        // Full-sized segments use the whole MTU (minus IP, TCP and timestamp option headers), not some smaller guess.
        Assert.Equal(1200 - 20 - 20 - 12, data.Max(s => s.PayloadLength));
    }

    [Fact]
    public void Psh_marks_the_last_byte_of_every_buffer_list()
    {
        var (lab, ctx) = Offloaded(nagle: false);
        using var _ = lab;
        lab.DropToPeer = _ => true; // hold ACKs back so all three lists are queued together
        int[] sizes = [3000, 5000, 700];
        var chain = Nbls.Chain(sizes.Select((n, i) => Nbls.Send(Nbls.Pattern(n, seed: i), id: (ulong)i)).ToArray());
        lab.Api.TcpOffloadSend(ctx, chain);
        lab.Step();
        lab.DropToPeer = null;
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 3, TimeSpan.FromSeconds(10));
        uint isn = lab.TargetSegments().First(s => s.PayloadLength > 0).Tcp.SequenceNumber.Value;
        // Each list's last byte is in a PSH segment (segments may cover a boundary; the one holding it is pushed).
        var pushedRanges = lab.TargetSegments().Where(s => s.PayloadLength > 0 && (s.Tcp.Flags & TcpFlags.Psh) != 0)
            .Select(s => (Start: (int)(s.Tcp.SequenceNumber.Value - isn), End: (int)(s.Tcp.SequenceNumber.Value - isn) + s.PayloadLength))
            .ToList();
        int end = 0;
        foreach (int size in sizes)
        {
            end += size;
            Assert.Contains(pushedRanges, r => r.Start < end && end <= r.End);
        }
        // ...and no segment is pushed that does not hold a list's last byte.
        int[] ends = [3000, 8000, 8700];
        Assert.All(pushedRanges, r => Assert.Contains(ends, e => r.Start < e && e <= r.End));
    }

    [Fact]
    public void Nagle_holds_a_small_segment_while_data_is_unacknowledged_and_off_sends_it_at_once()
    {
        foreach (bool nagle in new[] { true, false })
        {
            var (lab, ctx) = Offloaded(nagle: nagle);
            using var _ = lab;
            lab.DropToPeer = _ => true; // nothing gets ACKed
            lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(100, seed: 1)));
            lab.Step();
            lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(100, seed: 2)));
            lab.Step();
            // Step() does not move the clock, so nothing is retransmitted: each data segment is new data.
            int sent = lab.TargetSegments().Count(s => s.PayloadLength > 0);
            Assert.Equal(nagle ? 1 : 2, sent);
        }
    }

    [Fact]
    public void Send_backlog_is_reported_by_query_and_by_a_throttled_event_as_the_window_grows()
    {
        var (lab, ctx) = Offloaded(out var root);
        using var _ = lab;
        uint before = QueryBacklog(lab, root);
        Assert.InRange(before, 1448u, 0xFFFF_FFFEu);
        for (int round = 0; round < 5; round++)
        {
            int done = lab.Host.SendsCompleted.Count;
            lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(300_000, seed: round)));
            lab.RunUntil(() => lab.Host.SendsCompleted.Count == done + 1, TimeSpan.FromSeconds(30));
            lab.RunFor(TimeSpan.FromMilliseconds(400)); // rounds spread over more than one throttle interval
        }
        var backlogEvents = lab.Host.Events.Where(e => e.Type == TcpOffloadEventType.SendBacklogChange).ToList();
        Assert.NotEmpty(backlogEvents);
        Assert.True(backlogEvents[0].Info > before, $"backlog event {backlogEvents[0].Info} after query {before}: cwnd grew, so should the backlog");
        Assert.Equal(backlogEvents[^1].Info, QueryBacklog(lab, root));
        // Throttled: at most one event per second of simulated time.
        Assert.True(backlogEvents.Count <= 1 + (int)((lab.Now.Microseconds + 999_999) / 1_000_000), $"{backlogEvents.Count} backlog events by {lab.Now}");
    }

    private static uint QueryBacklog(TargetLab lab, OffloadBlock root)
    {
        int queried = lab.Host.Queried.Count;
        Assert.Equal(NdisStatus.Pending, lab.Api.QueryOffloadState(root));
        lab.RunUntil(() => lab.Host.Queried.Count > queried, TimeSpan.FromSeconds(1));
        var tcp = OffloadTree.Traverse(root).Select(v => v.Block).Single(b => b.Type == OffloadBlockType.TcpOffloadState);
        return tcp.TcpDelegated!.SendBacklogSize;
    }
}
