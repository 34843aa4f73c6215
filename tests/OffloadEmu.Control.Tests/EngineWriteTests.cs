using OffloadEmu.Control.Client;
using OffloadEmu.Control.Server;

namespace OffloadEmu.Control.Tests;

/// <summary>
/// The server writing I/O completions and indications from the target's engine thread
/// (<see cref="ControlServerOptions.EngineCompletions"/>) and the client running host callbacks on its receive thread
/// (<see cref="RemoteOffloadTargetOptions.InlineHostCallbacks"/>), as the daemon and offloademu run them: bytes exact and
/// every session's messages in order, on the inline paths and when a full socket sends them back to the worker.
/// </summary>
public sealed class EngineWriteTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static ulong Offload(LiveLab lab, IOffloadTarget client, TestHost host, TcpMachine machine, ulong handleBase, out OffloadBlock root)
    {
        root = lab.BuildTree(machine, handleBase, out var tcp);
        Assert.Equal(NdisStatus.Pending, client.InitiateOffload(root));
        var r = root;
        Assert.True(host.WaitFor(h => h.Initiated.Contains(r), Wait), "initiate did not complete");
        foreach (var v in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, v.Block.Status);
        return tcp.MiniportOffloadContext!.Context;
    }

    private static async Task<bool> Until(Func<bool> condition, TestHost host)
    {
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end)
        {
            host.ReturnAccepted();
            if (condition()) return true;
            await Task.Delay(2);
        }
        host.ReturnAccepted();
        return condition();
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Small_exchanges_then_bulk_both_ways_then_terminate_are_byte_exact_and_in_order(bool engineWrites, bool inlineCallbacks)
    {
        await using var lab = new LiveLab(engineWrites: engineWrites);
        var host = new TestHost();
        await using var client = lab.Connect(host, inlineCallbacks: inlineCallbacks);
        var (peer, machine) = lab.Establish(41000);
        ulong ctx = Offload(lab, client, host, machine, 0x100, out var root);

        // 300 exchanges of 1-64 bytes each way, interleaved (a request/response pattern), then 512 KiB each way at once.
        var up = new MemoryStream();
        var down = new MemoryStream();
        var issued = new List<NetBufferList>();
        for (int i = 0; i < 300; i++)
        {
            var a = Nbls.Pattern(1 + i % 64, i);
            var b = Nbls.Pattern(1 + (i * 7) % 64, 1000 + i);
            var send = Nbls.Chain(a, a.Length);
            issued.Add(send);
            up.Write(a);
            down.Write(b);
            Assert.Equal(NdisStatus.Pending, client.TcpOffloadSend(ctx, send));
            lab.PeerSend(peer, b);
            long want = down.Length;
            Assert.True(await Until(() => host.Locked(h => h.Received.Length) >= want, host), $"exchange {i}: the peer's bytes did not arrive");
        }
        var bulkUp = Nbls.Pattern(512 * 1024, 77);
        var bulkDown = Nbls.Pattern(512 * 1024, 78);
        var bulkSends = Nbls.Chain(bulkUp, 16 * 1024);
        for (var n = bulkSends; n is not null; n = n.Next) issued.Add(n);
        up.Write(bulkUp);
        down.Write(bulkDown);
        Assert.Equal(NdisStatus.Pending, client.TcpOffloadSend(ctx, bulkSends));
        lab.PeerSend(peer, bulkDown);
        Assert.True(await Until(() => host.Locked(h => h.Received.Length) >= down.Length && h_sends(host) >= issued.Count
            && lab.PeerReceivedLength(peer) >= up.Length, host), "the bulk did not complete");

        Assert.Equal(up.ToArray(), lab.PeerReceivedBytes(peer));
        Assert.Equal(down.ToArray(), host.Locked(h => h.Received.ToArray()));
        host.Locked(h =>
        {
            // Send completions in issue order (spec §5 FIFO), each once.
            Assert.Equal(issued, h.SendsCompleted);
            Assert.All(h.SendsCompleted, n => Assert.Equal(NdisStatus.Success, n.Status));
            Assert.Equal(0, h.OverlappingReceiveCallbacks);
            return 0;
        });
        Assert.Equal(NdisStatus.Pending, client.TerminateOffload(root));
        Assert.True(host.WaitFor(h => h.Terminated.Contains(root), Wait), "terminate did not complete");
        foreach (var v in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, v.Block.Status);
        Assert.Equal(0, lab.Target.ConnectionCount);

        Assert.Null(client.DispatchError);
        Assert.Empty(lab.CompletionErrors);
        if (engineWrites) Assert.True(lab.Target.Completions.RanOnEngineThread > 300, $"{lab.Target.Completions.RanOnEngineThread} items on the engine thread");
        else Assert.Equal(0, lab.Target.Completions.RanOnEngineThread);
        if (inlineCallbacks)
        {
            Assert.True(client.InlineDispatches > 300, $"{client.InlineDispatches} callbacks on the receive thread");
            Assert.Contains("oe-control-rx", host.CallbackThreads.Keys);
        }
        else
        {
            Assert.Equal(0, client.InlineDispatches);
            Assert.DoesNotContain("oe-control-rx", host.CallbackThreads.Keys);
        }
    }

    private static int h_sends(TestHost host) => host.Locked(h => h.SendsCompleted.Count);

    [Fact]
    public async Task A_full_socket_sends_the_engine_back_to_the_worker_and_nothing_is_lost_or_reordered()
    {
        // A host whose indication callback blocks stalls the client's receive thread (inline host callbacks: the
        // documented cost). The server goes on taking indications (a credit large enough for all of it), its socket
        // fills, the engine thread sees the socket behind and hands its items to the completion worker, which queues
        // them after what the socket has not taken. Once the host lets go, every byte arrives once, in order, and the
        // engine thread writes again.
        await using var lab = new LiveLab(new ControlServerOptions { MaxUnconsumedReceiveBytes = 64 << 20, MaxQueuedBytes = 256L << 20 }, engineWrites: true);
        var host = new TestHost();
        await using var client = lab.Connect(host, inlineCallbacks: true);
        var (peer, machine) = lab.Establish(41100, hostReceiveBuffer: 1 << 20);
        ulong ctx = Offload(lab, client, host, machine, 0x200, out var root);
        var queue = lab.Target.Completions;
        var down = new MemoryStream();
        for (int i = 0; i < 20; i++)
        {
            var b = Nbls.Pattern(1 + i, i);
            down.Write(b);
            lab.PeerSend(peer, b);
            long want = down.Length;
            Assert.True(await Until(() => host.Locked(h => h.Received.Length) >= want, host), $"small indication {i}");
        }
        long engineBefore = queue.RanOnEngineThread;
        Assert.True(engineBefore > 0);
        long handOffsBefore = queue.EngineHandOffs;

        using var gate = new ManualResetEventSlim();
        host.IndicationGate = gate;
        var bulk = Nbls.Pattern(12 << 20, 99);
        down.Write(bulk);
        lab.PeerSend(peer, bulk);
        // Small sends from the host meanwhile: their completions share the session's queue with the stalled indications.
        var issued = new List<NetBufferList>();
        for (int i = 0; i < 50; i++)
        {
            var send = Nbls.Chain(Nbls.Pattern(1 + i, 500 + i), 1 + i);
            issued.Add(send);
            Assert.Equal(NdisStatus.Pending, client.TcpOffloadSend(ctx, send));
            await Task.Delay(10);
        }
        var end = DateTime.UtcNow + Wait;
        while (queue.EngineHandOffs == handOffsBefore && DateTime.UtcNow < end) await Task.Delay(10);
        Assert.True(queue.EngineHandOffs > handOffsBefore, "the engine never handed over to the worker while the socket was full");
        gate.Set();
        Assert.True(await Until(() => host.Locked(h => h.Received.Length) >= down.Length && h_sends(host) >= issued.Count, host),
            $"received {host.Locked(h => h.Received.Length)} of {down.Length}, sends completed {h_sends(host)} of {issued.Count}");
        Assert.Equal(down.ToArray(), host.Locked(h => h.Received.ToArray()));
        Assert.Equal(issued, host.Locked(h => h.SendsCompleted.ToList()));

        // The socket drained: small exchanges go through the engine thread again.
        long engineAfterBulk = queue.RanOnEngineThread;
        for (int i = 0; i < 20; i++)
        {
            var b = Nbls.Pattern(1 + i, 2000 + i);
            down.Write(b);
            lab.PeerSend(peer, b);
            long want = down.Length;
            Assert.True(await Until(() => host.Locked(h => h.Received.Length) >= want, host), $"small indication {i} after the bulk");
        }
        Assert.Equal(down.ToArray(), host.Locked(h => h.Received.ToArray()));
        Assert.True(queue.RanOnEngineThread > engineAfterBulk, "the engine thread did not take indications again after the socket drained");
        Assert.Equal(NdisStatus.Pending, client.TerminateOffload(root));
        Assert.True(host.WaitFor(h => h.Terminated.Contains(root), Wait), "terminate did not complete");
        Assert.Null(client.DispatchError);
        Assert.Empty(lab.CompletionErrors);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task A_synchronous_request_from_a_callback_on_the_receive_thread_fails_at_once_instead_of_waiting_for_its_own_reply()
    {
        await using var lab = new LiveLab(engineWrites: true);
        var host = new TestHost();
        await using var client = lab.Connect(host, inlineCallbacks: true);
        Exception? thrown = null;
        var asked = new ManualResetEventSlim();
        host.OnStatus = () =>
        {
            try
            {
                client.QueryTcpStatistics(false);
            }
            catch (InvalidOperationException ex)
            {
                thrown = ex;
            }
            asked.Set();
        };
        lab.Target.IndicateUploadAll(); // an adapter status to every session
        Assert.True(asked.Wait(Wait));
        Assert.NotNull(thrown);
        // From any other thread the same request works.
        _ = client.QueryTcpStatistics(false);
        Assert.True(client.IsConnected);
    }
}
