using OffloadEmu.Link;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Target.Tests;

/// <summary>
/// One engine loop per link queue (docs/target.md, "Several link queues"): connections hashed to loops, frames read on
/// the wrong queue handed to the owner in order, tree operations over connections of several loops sharing one path and
/// neighbour, statistics summed, pause/upload-all/resume and snapshots across loops. Deterministic: a multi-queue
/// <see cref="MemoryLink"/>, manual mode, a manual clock, several peers on one thread.
/// </summary>
public sealed class MultiLoopTests
{
    [Fact]
    public void The_loop_hash_is_symmetric_matches_the_frame_hash_and_spreads_connections()
    {
        var host = new IpAddressValue(TargetLab.HostIp);
        var peer = new IpAddressValue(TargetLab.PeerIp);
        var counts = new int[2];
        for (ushort port = 40000; port < 41000; port++)
        {
            var arriving = new ConnectionKey(peer, host, 7, port);
            var leaving = new ConnectionKey(host, peer, port, 7);
            int loop = LoopHash.LoopOf(arriving, 2);
            Assert.Equal(loop, LoopHash.LoopOf(leaving, 2));
            counts[loop]++;
            if (port % 100 == 0)
            {
                var frame = MultiLab.Frame(TargetLab.PeerIp, TargetLab.HostIp, 7, port);
                Assert.Equal(loop, LoopHash.LoopOfFrame(frame, 2));
                Assert.Equal(loop, LoopHash.LoopOfFrame(MultiLab.Frame(TargetLab.HostIp, TargetLab.PeerIp, port, 7), 2));
            }
        }
        Assert.InRange(counts[0], 400, 600);
        Assert.Equal(0, LoopHash.LoopOf(new ConnectionKey(peer, host, 7, 40000), 1));
    }

    [Fact]
    public void Connections_on_both_loops_move_data_both_ways_and_the_statistics_sum()
    {
        using var lab = new MultiLab(queues: 2);
        var conns = new[] { lab.Connect(0), lab.Connect(1), lab.Connect(0), lab.Connect(1) };
        var root = lab.Offload(conns);
        Assert.Equal([2, 2], lab.Target.LoopConnectionCounts());
        foreach (var c in conns) Assert.Equal(c.Loop, (int)(c.Context % 2)); // the context names the owning loop

        foreach (var c in conns)
        {
            c.Sent = Nbls.Pattern(60_000, c.LocalPort);
            Assert.Equal(NdisStatus.Pending, lab.Target.TcpOffloadSend(c.Context, Nbls.Send(c.Sent)));
            c.PeerSends = Nbls.Pattern(40_000, c.LocalPort + 1);
            c.Peer.Enqueue(new MemorySendBuffer(c.PeerSends));
        }
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == conns.Length
            && conns.All(c => lab.Host.IndicatedByHandle.TryGetValue(c.Handle, out var s) && s.Length == c.PeerSends.Length), TimeSpan.FromSeconds(20));
        foreach (var c in conns)
        {
            Assert.Equal(c.Sent, c.PeerReceived.ToArray());
            Assert.Equal(c.PeerSends, lab.Host.IndicatedByHandle[c.Handle].ToArray());
        }
        lab.RunFor(TimeSpan.FromSeconds(1)); // delayed ACKs out, nothing in flight
        // Both loops counted: the sums equal what the wire carried.
        var ip = lab.Target.QueryIpStatistics(false);
        var tcp = lab.Target.QueryTcpStatistics(false);
        Assert.Equal((ulong)lab.FramesToTarget, ip.InReceives);
        Assert.Equal((ulong)lab.FramesFromTarget, ip.OutRequests);
        Assert.Equal(4UL, tcp.CurrentlyEstablished);
        foreach (var loop in lab.Target.Loops) Assert.True(loop.Stats(false).Ip.Snapshot().InReceives > 0, "a loop counted nothing");
        lab.Target.ResetStatistics(false);
        Assert.Equal(0UL, lab.Target.QueryIpStatistics(false).InReceives);
    }

    [Fact]
    public void Frames_of_a_connection_arriving_on_another_loops_queue_are_handed_over_in_order()
    {
        using var lab = new MultiLab(queues: 2);
        var c = lab.Connect(1);
        lab.Offload([c]);
        // The "NIC" puts every frame on queue 0; loop 1 owns the connection.
        lab.PeerSide.Steering = static (_, _) => 0;
        var data = Nbls.Pattern(200_000, 5);
        c.Peer.Enqueue(new MemorySendBuffer(data));
        long before = lab.Target.HandedOffFrames;
        lab.RunUntil(() => lab.Host.IndicatedByHandle.TryGetValue(c.Handle, out var s) && s.Length == data.Length, TimeSpan.FromSeconds(20));
        Assert.Equal(data, lab.Host.IndicatedByHandle[c.Handle].ToArray());
        long handed = lab.Target.HandedOffFrames - before;
        Assert.True(handed >= data.Length / 1460, $"only {handed} frames handed over");
        Assert.Equal(0, lab.Target.HandOffDrops);
        // Handed over in arrival order: the target never saw a hole, so it never asked the peer to retransmit.
        Assert.Equal(0, (long)c.Peer.Statistics.RetransmittedSegments);
        Assert.Equal(0, lab.Target.MachineOf(c.Context)!.OutOfOrderRanges);
    }

    [Fact]
    public void A_flow_moving_between_queues_mid_transfer_arrives_byte_exact()
    {
        using var lab = new MultiLab(queues: 2);
        var c = lab.Connect(0);
        lab.Offload([c]);
        int n = 0;
        lab.PeerSide.Steering = (_, q) => n++ / 7 % q; // an RSS move every 7 frames
        var data = Nbls.Pattern(300_000, 6);
        c.Peer.Enqueue(new MemorySendBuffer(data));
        lab.RunUntil(() => lab.Host.IndicatedByHandle.TryGetValue(c.Handle, out var s) && s.Length == data.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(data, lab.Host.IndicatedByHandle[c.Handle].ToArray());
        Assert.True(lab.Target.HandedOffFrames > 0);
    }

    [Fact]
    public void A_tree_on_two_loops_sharing_one_path_and_neighbour_is_updated_invalidated_and_terminated()
    {
        using var lab = new MultiLab(queues: 2);
        var a = lab.Connect(0);
        var b = lab.Connect(1);
        var root = lab.Offload([a, b]);
        var path = OffloadTree.Traverse(root).Select(v => v.Block).Single(b => b.Type == OffloadBlockType.Ip4OffloadState);
        Assert.Equal(1, lab.Target.Engine.PathCount);
        Assert.Equal(1, lab.Target.Engine.NeighborCount);
        foreach (var c in new[] { a, b }) lab.Target.TcpOffloadSend(c.Context, Nbls.Send(Nbls.Pattern(20_000, c.LocalPort)));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 2, TimeSpan.FromSeconds(10));
        foreach (var c in new[] { a, b }) Assert.Contains(lab.FramesFromTargetPayloads, p => p.Port == c.LocalPort && p.Length > 1200);

        // Update: a smaller path MTU reaches the connections of both loops.
        var update = new OffloadBlock(path.Type)
        {
            MiniportOffloadContext = path.MiniportOffloadContext, NdisOffloadHandle = path.NdisOffloadHandle,
            PathCached = new PathCachedState { PathMtu = 1200 },
        };
        Assert.Equal(NdisStatus.Pending, lab.Target.UpdateOffload(update));
        lab.RunUntil(() => lab.Host.Updated.Contains(update), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, update.Status);
        lab.FramesFromTargetPayloads.Clear();
        foreach (var c in new[] { a, b }) lab.Target.TcpOffloadSend(c.Context, Nbls.Send(Nbls.Pattern(20_000, c.LocalPort)));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 4, TimeSpan.FromSeconds(10));
        foreach (var c in new[] { a, b }) Assert.Contains(lab.FramesFromTargetPayloads, p => p.Port == c.LocalPort && p.Length > 1100);
        Assert.All(lab.FramesFromTargetPayloads, p => Assert.True(p.Length <= 1160, $"a {p.Length}-byte segment after the MTU update"));

        // Invalidate the shared neighbour: both connections ask to be uploaded.
        var neighbor = new OffloadBlock(root.Type) { MiniportOffloadContext = root.MiniportOffloadContext, NdisOffloadHandle = root.NdisOffloadHandle };
        Assert.Equal(NdisStatus.Pending, lab.Target.InvalidateOffload(neighbor));
        lab.RunUntil(() => lab.Host.Invalidated.Contains(neighbor), TimeSpan.FromSeconds(1));
        lab.RunFor(TimeSpan.FromMilliseconds(10));
        foreach (var c in new[] { a, b })
            Assert.Contains(lab.Host.Events, e => e.Handle == c.Handle && e.Type == TcpOffloadEventType.Retrieve && e.Info == (uint)TcpUploadReason.InvalidState);

        // Terminate the whole tree: loop 1's connection finishes on loop 1 and reports to the coordinator.
        Assert.Equal(NdisStatus.Pending, lab.Target.TerminateOffload(root));
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
        foreach (var visit in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, visit.Block.Status);
        Assert.Equal([0, 0], lab.Target.LoopConnectionCounts());
        Assert.Equal(0, lab.Target.Engine.PathCount);
        Assert.Equal(0, lab.Target.Engine.NeighborCount);
        foreach (var c in new[] { a, b })
        {
            var state = c.Block.TcpDelegated!;
            Assert.Equal(c.Peer.RcvNxt, state.SndUna);
            Assert.Equal(c.Peer.SndNxt, state.RcvNxt);
        }
    }

    [Fact]
    public async Task Pause_holds_initiates_upload_all_reaches_every_loop_and_the_snapshot_spans_loops()
    {
        using var lab = new MultiLab(queues: 2);
        var first = new[] { lab.Connect(0), lab.Connect(1) };
        var root = lab.Offload(first);
        lab.Target.IndicatePause();
        lab.RunFor(TimeSpan.FromMilliseconds(1));
        var later = new[] { lab.Connect(0), lab.Connect(1) };
        var held = lab.BuildTree(later);
        Assert.Equal(NdisStatus.Pending, lab.Target.InitiateOffload(held));
        lab.RunFor(TimeSpan.FromMilliseconds(50));
        Assert.DoesNotContain(held, lab.Host.Initiated);
        lab.Target.IndicateUploadAll();
        lab.Target.IndicateResume();
        lab.RunUntil(() => lab.Host.Initiated.Contains(held), TimeSpan.FromSeconds(1));
        Assert.Equal([NdisStatus.OffloadPause, NdisStatus.UploadAll, NdisStatus.OffloadResume], lab.Host.Statuses);
        Assert.Equal([2, 2], lab.Target.LoopConnectionCounts());

        var snapshot = lab.Target.SnapshotConnectionsAsync(10);
        lab.RunFor(TimeSpan.FromMilliseconds(1));
        Assert.True(snapshot.IsCompletedSuccessfully);
        var (list, total) = await snapshot;
        Assert.Equal(4, total);
        Assert.Equal(first.Concat(later).Select(c => c.LocalPort).Order(), list.Select(i => i.LocalPort).Order());

        // Upload all: both trees terminate, whichever loops hold their connections.
        lab.Target.TerminateOffload(root);
        lab.Target.TerminateOffload(held);
        lab.RunUntil(() => lab.Host.Terminated.Count == 2, TimeSpan.FromSeconds(1));
        Assert.Equal(0, lab.Target.ConnectionCount);
    }

    [Fact]
    public void Threaded_loops_park_for_tree_operations_and_io_reaches_the_owning_loop()
    {
        MemoryLink.CreateMultiQueue(out var nics, out var peer, 2);
        var host = new TestHost();
        var queue = CompletionQueue.CreateManual(); // drained by this thread: the host is only touched here
        using var target = new OffloadTarget(nics, new OffloadTargetOptions(), queue);
        host.Target = target;
        target.Bind(host);
        target.Start();
        try
        {
            // Twenty trees of two connections each (one per loop), initiated, queried and terminated while both loops run.
            for (int round = 0; round < 20; round++)
            {
                var lab = new MultiLab(queues: 2, build: false);
                var conns = new[] { lab.Connect(0, (ushort)(41000 + round * 8)), lab.Connect(1, (ushort)(41000 + round * 8)) };
                var root = lab.BuildTree(conns, peerMac: peer.MacAddress);
                target.InitiateOffload(root);
                SpinUntil(queue, () => host.Initiated.Contains(root));
                foreach (var visit in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, visit.Block.Status);
                Assert.Equal([1, 1], target.LoopConnectionCounts());
                var post = Nbls.Post(100);
                target.TcpOffloadReceive(conns[1].Block.MiniportOffloadContext!.Context, post);
                target.TerminateOffload(root);
                SpinUntil(queue, () => host.Terminated.Contains(root));
                foreach (var visit in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, visit.Block.Status);
                Assert.Equal(0, target.ConnectionCount);
                SpinUntil(queue, () => host.ReceivesCompleted.Contains(post));
                Assert.Equal(NdisStatus.UploadInProgress, post.Status);
            }
            Assert.True(target.Engine.Barrier.Entered >= 40);
        }
        finally
        {
            foreach (var n in nics) n.Dispose();
            peer.Dispose();
        }
    }

    private static void SpinUntil(CompletionQueue queue, Func<bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            queue.RunPending();
            if (done()) return;
            if (DateTime.UtcNow > deadline) Assert.Fail("Timed out waiting for the threaded target.");
            Thread.Sleep(1);
        }
    }
}
