namespace OffloadEmu.Target.Tests;

/// <summary>Spec §3, §10 rows 27–35: posts, push and non-push modes, zero-byte posts, indications, window.</summary>
public sealed class ReceiveTests
{
    private static (TargetLab Lab, ulong Context) Offloaded(OffloadParameters? parameters = null, uint rcvIndicationSize = 0)
    {
        var lab = new TargetLab(new OffloadTargetOptions { Parameters = parameters ?? OffloadParameters.Default });
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp);
        tcp.TcpCached = tcp.TcpCached!.Value with { RcvIndicationSize = rcvIndicationSize };
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        return (lab, tcp.MiniportOffloadContext!.Context);
    }

    private static void PeerSends(TargetLab lab, byte[] data) => lab.Peer.Enqueue(new MemorySendBuffer(data));

    [Fact]
    public void Ten_posts_fill_and_complete_in_order_with_byte_counts()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        var posts = Enumerable.Range(0, 10).Select(i => Nbls.Post(1000, noPush: true, id: (ulong)i)).ToArray();
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadReceive(ctx, Nbls.Chain(posts)));
        var data = Nbls.Pattern(10_000, seed: 11);
        PeerSends(lab, data);
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 10, TimeSpan.FromSeconds(5));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (ulong)i), lab.Host.ReceivesCompleted.Select(n => n.RequestId));
        Assert.All(lab.Host.ReceivesCompleted, n => Assert.Equal(1000, n.TcpOffloadBytesTransferred));
        Assert.Equal(data, lab.Host.ReceivesCompleted.SelectMany(Nbls.Received).ToArray());
        Assert.Empty(lab.Host.Indications); // posts existed: data had to go into them
    }

    [Fact]
    public void Push_mode_partial_post_completes_on_psh()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        var post = Nbls.Post(8000);
        lab.Api.TcpOffloadReceive(ctx, post);
        PeerSends(lab, Nbls.Pattern(500)); // the peer's last segment of a write carries PSH
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromMilliseconds(100));
        Assert.Equal(500, post.TcpOffloadBytesTransferred);
    }

    [Theory]
    [InlineData(1000u)]
    [InlineData(100u)]
    [InlineData(10u)]
    public void Push_timer_completes_a_partial_post_after_push_ticks_when_no_psh(uint ticksPerSecond)
    {
        var parameters = OffloadParameters.ForTicksPerSecond(ticksPerSecond);
        var (lab, ctx) = Offloaded(parameters);
        using var _ = lab;
        var post = Nbls.Post(8000);
        lab.Api.TcpOffloadReceive(ctx, post);
        lab.ClearPeerPsh = true; // the peer's write never ends: no PSH reaches the target
        var start = lab.Now;
        PeerSends(lab, Nbls.Pattern(300));
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromSeconds(2));
        var elapsed = lab.Now - start;
        Assert.Equal(300, post.TcpOffloadBytesTransferred);
        // Spec §10 row 2: the measured push timer is TcpPushTicks ± 1 tick at every tick rate.
        var push = parameters.ToTimeSpan(parameters.TcpPushTicks);
        var tick = parameters.ToTimeSpan(1);
        Assert.InRange(elapsed, push - tick, push + tick);
    }

    [Fact]
    public void Non_push_mode_holds_a_partial_post_despite_psh_and_timer()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        var post = Nbls.Post(8000, noPush: true);
        lab.Api.TcpOffloadReceive(ctx, post);
        PeerSends(lab, Nbls.Pattern(500));
        lab.RunFor(TimeSpan.FromSeconds(3));
        Assert.Empty(lab.Host.ReceivesCompleted);
        PeerSends(lab, Nbls.Pattern(7500, seed: 2));
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromSeconds(2));
        Assert.Equal(8000, post.TcpOffloadBytesTransferred);
    }

    [Fact]
    public void Zero_byte_post_completes_with_nothing_and_rearms_indications()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        lab.Host.Answer = _ => (NdisStatus.OffloadDataNotAccepted, 0);
        PeerSends(lab, Nbls.Pattern(2000));
        lab.RunUntil(() => lab.Host.Indications.Count == 1, TimeSpan.FromSeconds(1));
        lab.RunFor(TimeSpan.FromSeconds(1));
        Assert.Single(lab.Host.Indications); // refused: no re-indication until a post
        lab.Host.Answer = nbl => (NdisStatus.Success, (int)nbl.DataLength);
        var zero = Nbls.Post(0);
        lab.Api.TcpOffloadReceive(ctx, zero);
        lab.RunUntil(() => lab.Host.Indications.Count == 2, TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, zero.Status);
        Assert.Equal(0, zero.TcpOffloadBytesTransferred);
        Assert.Equal(2000, lab.Host.IndicatedData.Length);
    }

    [Fact]
    public void Accepted_indication_is_returned_and_refusal_waits_for_a_post_which_gets_the_data()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        var data = Nbls.Pattern(4000, seed: 5);
        lab.Host.Answer = _ => (NdisStatus.OffloadDataNotAccepted, 0);
        PeerSends(lab, data);
        lab.RunUntil(() => lab.Host.Indications.Count == 1, TimeSpan.FromSeconds(1));
        lab.RunFor(TimeSpan.FromMilliseconds(500));
        Assert.Single(lab.Host.Indications);
        var post = Nbls.Post(4000);
        lab.Api.TcpOffloadReceive(ctx, post);
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromSeconds(1));
        Assert.Equal(data, Nbls.Received(post));
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Fact]
    public void Partial_acceptance_restarts_the_next_delivery_at_byte_k()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        var data = Nbls.Pattern(3000, seed: 9);
        lab.Host.Answer = nbl => (NdisStatus.OffloadDataPartiallyAccepted, 1000);
        PeerSends(lab, data);
        lab.RunUntil(() => lab.Host.Indications.Count == 1, TimeSpan.FromSeconds(1));
        var post = Nbls.Post(2000);
        lab.Api.TcpOffloadReceive(ctx, post);
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromSeconds(1));
        Assert.Equal(data.AsSpan(0, 1000).ToArray(), lab.Host.IndicatedData.ToArray());
        Assert.Equal(data.AsSpan(1000).ToArray(), Nbls.Received(post));
    }

    [Fact]
    public void Accepted_indications_are_held_by_the_host_until_receive_return()
    {
        var (lab, _) = Offloaded();
        using var __ = lab;
        PeerSends(lab, Nbls.Pattern(50_000));
        lab.RunUntil(() => lab.Host.IndicatedData.Length == 50_000, TimeSpan.FromSeconds(5));
        Assert.True(lab.Target.IndicatedBuffersHeldByHost > 0);
        lab.Host.ReturnAccepted();
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Fact]
    public void Indications_filled_from_the_frames_carry_the_stream_in_order()
    {
        var (lab, _) = Offloaded();
        using var __ = lab;
        var data = Nbls.Pattern(300_000, seed: 21);
        PeerSends(lab, data);
        lab.RunUntil(() => lab.Host.IndicatedData.Length == data.Length, TimeSpan.FromSeconds(10));
        Assert.Equal(data, lab.Host.IndicatedData.ToArray());
        Assert.True(lab.Target.HeldIndications > 0); // the bytes went frame -> indication buffer, not through the ring
        Assert.True(lab.Target.HeldIndicationBytes > data.Length / 2);
        lab.Host.ReturnAccepted();
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
        Assert.False(lab.Target.Engine.Connections.Single().Machine.HoldsReceiveBuffer);
    }

    [Theory]
    [InlineData(1, 0)]      // the second indication refused: its bytes and the ones staged after it go back to the ring
    [InlineData(1, 700)]    // accepted in part
    [InlineData(3, 1)]
    public void A_refused_or_partly_accepted_indication_of_held_bytes_gives_them_back_in_order(int acceptFirst, int partial)
    {
        var (lab, ctx) = Offloaded(rcvIndicationSize: 4096);
        using var _ = lab;
        lab.Host.RecordInOrder = true;
        int answered = 0;
        lab.Host.Answer = nbl =>
        {
            answered++;
            if (answered <= acceptFirst) return (NdisStatus.Success, (int)nbl.DataLength);
            if (answered == acceptFirst + 1 && partial > 0 && partial < nbl.DataLength) return (NdisStatus.OffloadDataPartiallyAccepted, partial);
            return (NdisStatus.OffloadDataNotAccepted, 0);
        };
        var data = Nbls.Pattern(60_000, seed: 22);
        PeerSends(lab, data);
        lab.RunUntil(() => answered > acceptFirst, TimeSpan.FromSeconds(5));
        lab.RunFor(TimeSpan.FromMilliseconds(200));
        Assert.True(lab.Target.HeldIndications > 0);
        lab.Host.Answer = nbl => (NdisStatus.Success, (int)nbl.DataLength); // after the next post, indications are taken
        while (lab.Host.ReceivedInOrder.Length < data.Length)
        {
            var post = Nbls.Post(8192);
            lab.Api.TcpOffloadReceive(ctx, post);
            lab.RunUntil(() => lab.Host.ReceivesCompleted.Contains(post), TimeSpan.FromSeconds(10));
            Assert.Equal(NdisStatus.Success, post.Status);
            lab.RunFor(TimeSpan.FromMilliseconds(20));
        }
        Assert.Equal(data, lab.Host.ReceivedInOrder.ToArray());
        Assert.Equal(0, lab.Host.OverlappingReceiveCallbacks);
        lab.Host.ReturnAccepted();
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Fact]
    public void A_refused_indication_of_held_bytes_returned_by_the_host_anyway_loses_nothing()
    {
        // Returning a refused NBL breaks the contract; the bytes that exist only in it must still reach the host.
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        lab.ExpectedViolations.Add(ContractRule.ReceiveReturnUnknown);
        lab.Host.RecordInOrder = true;
        lab.Host.Answer = nbl =>
        {
            lab.Api.TcpOffloadReceiveReturn(nbl);
            return (NdisStatus.OffloadDataNotAccepted, 0);
        };
        var data = Nbls.Pattern(20_000, seed: 23);
        PeerSends(lab, data);
        lab.RunUntil(() => lab.Host.Indications.Count == 1, TimeSpan.FromSeconds(5));
        lab.RunFor(TimeSpan.FromMilliseconds(200));
        Assert.True(lab.Target.HeldIndications > 0);
        lab.Host.Answer = nbl => (NdisStatus.Success, (int)nbl.DataLength);
        var post = Nbls.Post(data.Length);
        lab.Api.TcpOffloadReceive(ctx, post);
        lab.RunUntil(() => lab.Host.ReceivedInOrder.Length == data.Length, TimeSpan.FromSeconds(5));
        Assert.Equal(data, lab.Host.ReceivedInOrder.ToArray());
        lab.Host.ReturnAccepted();
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Fact]
    public void Rcv_indication_size_caps_each_indication()
    {
        var (lab, _) = Offloaded(rcvIndicationSize: 100);
        using var __ = lab;
        lab.Host.Answer = nbl => (NdisStatus.Success, (int)nbl.DataLength);
        PeerSends(lab, Nbls.Pattern(1000));
        lab.RunUntil(() => lab.Host.IndicatedData.Length == 1000, TimeSpan.FromSeconds(2));
        Assert.All(lab.Host.Indications, i => Assert.True(i.Length <= 100));
    }

    [Fact]
    public void Window_stays_closed_while_data_waits_and_opens_as_it_is_consumed()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        lab.Host.Answer = _ => (NdisStatus.OffloadDataNotAccepted, 0);
        var data = Nbls.Pattern(200_000, seed: 4);
        PeerSends(lab, data);
        lab.RunFor(TimeSpan.FromSeconds(2));
        var machine = lab.Target.Engine.Connections.Single().Machine;
        Assert.Equal(0u, machine.RcvWnd); // 64 KiB buffer full, nothing consumed
        var received = new MemoryStream();
        while (received.Length < data.Length)
        {
            var post = Nbls.Post(16_384);
            lab.Api.TcpOffloadReceive(ctx, post);
            lab.RunUntil(() => lab.Host.ReceivesCompleted.Contains(post), TimeSpan.FromSeconds(10));
            received.Write(Nbls.Received(post));
        }
        Assert.Equal(data, received.ToArray());
        Assert.Equal(0, lab.Host.OverlappingReceiveCallbacks);
    }

    [Fact]
    public void Peer_fin_after_bytes_in_a_partly_filled_non_push_post_completes_that_post_before_the_disconnect()
    {
        // Found by the soak (issue 8): a non-push post holding the last bytes before the peer's FIN stayed queued while
        // the Disconnect went up, so the host saw end of stream before those bytes (and got them after it, or never).
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        var post = Nbls.Post(8000, noPush: true);
        lab.Api.TcpOffloadReceive(ctx, post);
        PeerSends(lab, Nbls.Pattern(500, seed: 3));
        lab.Peer.Close();
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Disconnect), TimeSpan.FromSeconds(2));
        Assert.Equal(1, lab.Host.ReceivesCompletedAtDisconnect);
        Assert.Same(post, lab.Host.ReceivesCompleted[0]);
        Assert.Equal(NdisStatus.Success, post.Status);
        Assert.Equal(500, post.TcpOffloadBytesTransferred);
        Assert.Equal(Nbls.Pattern(500, seed: 3), Nbls.Received(post));
    }

    [Fact]
    public void Peer_fin_is_indicated_only_after_the_data_before_it_was_consumed_and_later_posts_get_invalid_state()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        lab.Host.Answer = _ => (NdisStatus.OffloadDataNotAccepted, 0);
        PeerSends(lab, Nbls.Pattern(1000));
        lab.Peer.Close();
        lab.RunFor(TimeSpan.FromSeconds(1));
        Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Disconnect));
        var post = Nbls.Post(1000);
        lab.Api.TcpOffloadReceive(ctx, post);
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Disconnect), TimeSpan.FromSeconds(1));
        Assert.Equal(1000, post.TcpOffloadBytesTransferred);
        var late = Nbls.Post(10);
        lab.Api.TcpOffloadReceive(ctx, late);
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Contains(late), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.InvalidState, late.Status);
    }
}
