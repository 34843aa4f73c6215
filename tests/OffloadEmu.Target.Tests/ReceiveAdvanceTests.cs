namespace OffloadEmu.Target.Tests;

/// <summary>
/// Spec §3 "Completion per NBL: TcpOffloadBytesTransferred = bytes placed, NB start advanced by it": where each kind of
/// receive completion leaves the post's data window, and that the bytes placed are the ones just before it. The lab's
/// contract checker (CC120) also fails any of these tests whose completion moved the start by anything else.
/// </summary>
public sealed class ReceiveAdvanceTests
{
    private const byte Untouched = 0xEE;

    private static (TargetLab Lab, OffloadBlock Root, ulong Context) Offloaded(OffloadParameters? parameters = null)
    {
        var lab = new TargetLab(new OffloadTargetOptions { Parameters = parameters ?? OffloadParameters.Default });
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        return (lab, root, tcp.MiniportOffloadContext!.Context);
    }

    /// <summary>A post over <paramref name="segments"/> buffers of <paramref name="segmentSize"/> bytes filled with
    /// <see cref="Untouched"/>, its data window starting <paramref name="start"/> bytes in.</summary>
    private static NetBufferList Post(int segmentSize, int start = 0, int segments = 1, bool noPush = false, ulong id = 0)
    {
        var nbl = new NetBufferList { RequestId = id, TcpReceiveNoPush = noPush };
        var nb = nbl.AddBuffer();
        for (int i = 0; i < segments; i++)
        {
            var bytes = new byte[segmentSize];
            Array.Fill(bytes, Untouched);
            nb.AddWritableSegment(bytes);
        }
        nb.SetData(start, nb.TotalLength - start);
        return nbl;
    }

    private static byte[] Chain(NetBuffer nb)
    {
        var all = new byte[nb.TotalLength];
        int at = 0;
        for (int i = 0; i < nb.SegmentCount; i++)
        {
            nb.GetSegment(i).Span.CopyTo(all.AsSpan(at));
            at += nb.GetSegment(i).Length;
        }
        return all;
    }

    private static void AssertWindow(NetBufferList post, int offset, int length)
        => Assert.Equal((offset, length), (post[0].DataOffset, post[0].DataLength));

    private static void PeerSends(TargetLab lab, byte[] data) => lab.Peer.Enqueue(new MemorySendBuffer(data));

    [Fact]
    public void A_filled_post_is_advanced_to_its_end_and_the_bytes_sit_before_the_data_start_across_segments()
    {
        var (lab, _, ctx) = Offloaded();
        using var _ = lab;
        var post = Post(400, start: 150, segments: 3); // window 150..1200 over three 400-byte MDLs
        lab.Api.TcpOffloadReceive(ctx, post);
        var data = Nbls.Pattern(1050, seed: 3);
        PeerSends(lab, data);
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromSeconds(2));
        Assert.Equal(NdisStatus.Success, post.Status);
        Assert.Equal(1050, post.TcpOffloadBytesTransferred);
        AssertWindow(post, 1200, 0);
        var chain = Chain(post[0]);
        Assert.All(chain[..150], b => Assert.Equal(Untouched, b)); // nothing written before the posted window
        Assert.Equal(data, chain[150..]);
        Assert.Equal(data, Nbls.Received(post));
    }

    [Fact]
    public void A_partial_push_completion_on_psh_is_advanced_by_the_bytes_placed_only()
    {
        var (lab, _, ctx) = Offloaded();
        using var _ = lab;
        var post = Post(8000);
        lab.Api.TcpOffloadReceive(ctx, post);
        var data = Nbls.Pattern(500, seed: 4);
        PeerSends(lab, data); // the write's last segment carries PSH
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromMilliseconds(100));
        Assert.Equal(500, post.TcpOffloadBytesTransferred);
        AssertWindow(post, 500, 7500);
        Assert.Equal(data, Nbls.Received(post));
        Assert.All(Chain(post[0])[500..], b => Assert.Equal(Untouched, b));
    }

    [Fact]
    public void A_partial_push_completion_on_the_push_timer_is_advanced_by_the_bytes_placed()
    {
        var parameters = OffloadParameters.Default;
        var (lab, _, ctx) = Offloaded(parameters);
        using var _ = lab;
        var post = Post(8000, start: 8);
        lab.Api.TcpOffloadReceive(ctx, post);
        lab.ClearPeerPsh = true;
        var first = Nbls.Pattern(300, seed: 5);
        var second = Nbls.Pattern(200, seed: 6);
        var firstAt = lab.Now;
        PeerSends(lab, first);
        lab.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.Empty(lab.Host.ReceivesCompleted);
        PeerSends(lab, second); // more data restarts the timer and lands right after the first bytes
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromSeconds(2));
        // Spec §3 "new data restarts it": not TcpPushTicks after the first bytes (the peer's Nagle holds the second write
        // until the target's delayed ACK, so it lands 100-200 ms after the first).
        var push = parameters.ToTimeSpan(parameters.TcpPushTicks);
        Assert.InRange(lab.Now - firstAt, push + TimeSpan.FromMilliseconds(100), push + TimeSpan.FromMilliseconds(250));
        Assert.Equal(500, post.TcpOffloadBytesTransferred);
        AssertWindow(post, 508, 7492);
        Assert.Equal([.. first, .. second], Nbls.Received(post));
    }

    [Fact]
    public void A_zero_byte_post_completes_with_its_empty_window_where_it_was()
    {
        var (lab, _, ctx) = Offloaded();
        using var _ = lab;
        var zero = Post(64, start: 64); // a buffer whose data window is empty
        lab.Api.TcpOffloadReceive(ctx, zero);
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, zero.Status);
        Assert.Equal(0, zero.TcpOffloadBytesTransferred);
        AssertWindow(zero, 64, 0);
    }

    [Fact]
    public void A_request_aborted_post_reports_and_is_advanced_past_its_valid_bytes_and_the_next_is_not_moved()
    {
        var (lab, _, ctx) = Offloaded();
        using var _ = lab;
        var partial = Post(5000, noPush: true, id: 1);
        var empty = Post(5000, noPush: true, id: 2);
        lab.Api.TcpOffloadReceive(ctx, Nbls.Chain(partial, empty));
        var data = Nbls.Pattern(700, seed: 7);
        PeerSends(lab, data);
        lab.RunFor(TimeSpan.FromMilliseconds(50));
        Assert.Empty(lab.Host.ReceivesCompleted); // non-push: held
        lab.Peer.Abort();
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 2, TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.RequestAborted, partial.Status);
        Assert.Equal(700, partial.TcpOffloadBytesTransferred);
        AssertWindow(partial, 700, 4300);
        Assert.Equal(data, Nbls.Received(partial));
        Assert.Equal(NdisStatus.RequestAborted, empty.Status);
        AssertWindow(empty, 0, 5000);
    }

    [Fact]
    public void Posts_completed_by_terminate_are_advanced_by_their_bytes_and_an_empty_upload_in_progress_one_is_not()
    {
        var (lab, root, ctx) = Offloaded();
        using var _ = lab;
        var partial = Post(5000, noPush: true, id: 1);
        var empty = Post(5000, noPush: true, id: 2);
        lab.Api.TcpOffloadReceive(ctx, Nbls.Chain(partial, empty));
        var data = Nbls.Pattern(1200, seed: 8);
        PeerSends(lab, data);
        lab.RunFor(TimeSpan.FromMilliseconds(50));
        lab.Api.TerminateOffload(root);
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, partial.Status);
        AssertWindow(partial, 1200, 3800);
        Assert.Equal(data, Nbls.Received(partial));
        Assert.Equal(NdisStatus.UploadInProgress, empty.Status);
        Assert.Equal(0, empty.TcpOffloadBytesTransferred);
        AssertWindow(empty, 0, 5000);
    }

    [Fact]
    public void A_pre_filled_post_gets_the_data_after_the_host_bytes_and_is_advanced_by_the_bytes_placed_only()
    {
        var (lab, _, ctx) = Offloaded();
        using var _ = lab;
        // The host copied 100 bytes it held into the buffer and posts the rest: the window is the free space after them.
        var post = Post(1000, start: 100);
        var hostBytes = Nbls.Pattern(100, seed: 9);
        hostBytes.CopyTo(MemoryMarshalWritable(post[0]));
        post.TcpReceiveBytesTransferred = 100;
        lab.Api.TcpOffloadReceive(ctx, post);
        var data = Nbls.Pattern(300, seed: 10);
        PeerSends(lab, data);
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromSeconds(1));
        Assert.Equal(300, post.TcpOffloadBytesTransferred); // the target's bytes only
        Assert.Equal(100, post.TcpReceiveBytesTransferred);
        AssertWindow(post, 400, 600);
        Assert.Equal([.. hostBytes, .. data], Nbls.Received(post)); // host bytes, then the target's, ending at the start
    }

    [Fact]
    public void A_pre_filled_push_post_with_no_data_completes_on_the_push_timer_unmoved()
    {
        var parameters = OffloadParameters.Default;
        var (lab, _, ctx) = Offloaded(parameters);
        using var _ = lab;
        var post = Post(1000, start: 40);
        post.TcpReceiveBytesTransferred = 40;
        var start = lab.Now;
        lab.Api.TcpOffloadReceive(ctx, post);
        lab.RunUntil(() => lab.Host.ReceivesCompleted.Count == 1, TimeSpan.FromSeconds(2));
        // Spec §3: a pre-filled push-mode post starts the push timer at once.
        var push = parameters.ToTimeSpan(parameters.TcpPushTicks);
        Assert.InRange(lab.Now - start, push - parameters.ToTimeSpan(1), push + parameters.ToTimeSpan(1));
        Assert.Equal(NdisStatus.Success, post.Status);
        Assert.Equal(0, post.TcpOffloadBytesTransferred);
        AssertWindow(post, 40, 960);
    }

    // The writable memory of the NB's (single) segment, to play the host writing its pre-filled bytes.
    private static Span<byte> MemoryMarshalWritable(NetBuffer nb)
        => System.Runtime.InteropServices.MemoryMarshal.AsMemory(nb.GetSegment(0)).Span;
}
