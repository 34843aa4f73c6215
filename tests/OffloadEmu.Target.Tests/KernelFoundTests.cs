namespace OffloadEmu.Target.Tests;

/// <summary>
/// Target bugs found by the end-to-end test against the Linux kernel (tests/OffloadEmu.EndToEnd.Tests,
/// TargetKernelEndToEndTests), each reproduced here over the MemoryLink lab.
/// </summary>
public sealed class KernelFoundTests
{
    private static (TargetLab Lab, ulong Context) Offloaded()
    {
        var lab = new TargetLab();
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        return (lab, tcp.MiniportOffloadContext!.Context);
    }

    /// <summary>
    /// Spec §3: deliveries keep stream order, and receive completion and indication are serialized per connection. A
    /// segment that fills the last post and leaves bytes over used to schedule the indication of the later bytes at once,
    /// while the completion of the post (the earlier bytes) waited for the end of the connection's service: the host saw
    /// the indication first and put the stream together out of order (seen in the kernel test as a mismatch at the
    /// start of a 256 KiB indication).
    /// </summary>
    [Fact]
    public void Post_completion_reaches_the_host_before_the_indication_of_the_bytes_after_it()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        var stream = new MemoryStream();
        int completionsSeenAtIndication = -1;
        int written = 0;
        lab.Host.Answer = nbl =>
        {
            if (completionsSeenAtIndication < 0) completionsSeenAtIndication = lab.Host.ReceivesCompleted.Count;
            for (; written < lab.Host.ReceivesCompleted.Count; written++) stream.Write(Nbls.Received(lab.Host.ReceivesCompleted[written]));
            var bytes = new byte[nbl.DataLength];
            nbl.CopyTo(0, bytes);
            stream.Write(bytes);
            return (NdisStatus.Success, bytes.Length);
        };
        var post = Nbls.Post(1000, noPush: true);
        lab.Api.TcpOffloadReceive(ctx, post);
        var data = Nbls.Pattern(3000, seed: 5);
        lab.Peer.Enqueue(new MemorySendBuffer(data));
        lab.RunUntil(() => lab.Host.Indications.Count > 0, TimeSpan.FromSeconds(1));
        Assert.Equal(1, completionsSeenAtIndication);
        lab.RunUntil(() => stream.Length >= 3000, TimeSpan.FromSeconds(1));
        Assert.Equal(data, stream.ToArray());
    }

    /// <summary>
    /// The connection timer heap: every reschedule used to push a new entry and leave the old one in the heap until its
    /// time came, so a bulk sender (the retransmit timer pushed one RTO ahead on every ACK) kept one stale entry per
    /// service round for a whole RTO: ~100k entries (1.6 MB, doubling allocations) per busy connection in the bulk-send
    /// benchmark, which therefore never reached 0 B per segment. A connection now has at most a few entries queued.
    /// </summary>
    [Fact]
    public void Timer_heap_stays_small_during_a_bulk_send()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        var chunk = Nbls.Pattern(64 * 1024, seed: 9);
        for (int i = 0; i < 64; i++) lab.Api.TcpOffloadSend(ctx, Nbls.Send(chunk, (ulong)i));
        int maxEntries = 0;
        // A clock that moves on by 10 µs per round, as a real one does while the engine is busy.
        for (int round = 0; round < 200_000 && lab.Host.SendsCompleted.Count < 64; round++)
        {
            lab.Now = lab.Now.AddMicroseconds(10);
            lab.Step();
            maxEntries = Math.Max(maxEntries, lab.Target.Engine.TimerEntries);
        }
        Assert.Equal(64L * chunk.Length, lab.PeerReceived.Length);
        Assert.True(maxEntries <= 4, $"the timer heap held {maxEntries} entries for one connection");
    }
}
