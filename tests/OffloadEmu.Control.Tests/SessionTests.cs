using OffloadEmu.Control.Client;

namespace OffloadEmu.Control.Tests;

public sealed class SessionTests
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

    private static async Task PumpUntil(TestHost host, Func<bool> done)
    {
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && !done())
        {
            host.ReturnAccepted();
            await Task.Delay(10);
        }
        host.ReturnAccepted();
        Assert.True(done(), "condition not reached");
    }

    [Fact]
    public async Task Two_clients_cannot_see_or_touch_each_others_connections()
    {
        await using var lab = new LiveLab();
        var hostA = new TestHost();
        var hostB = new TestHost();
        await using var a = lab.Connect(hostA, "a");
        await using var b = lab.Connect(hostB, "b");
        var (peerA, machineA) = lab.Establish(40101);
        var (peerB, machineB) = lab.Establish(40102);
        // Both hosts use the same handle numbers: the server keeps them apart.
        ulong ctxA = Offload(lab, a, hostA, machineA, 0x100, out var rootA);
        ulong ctxB = Offload(lab, b, hostB, machineB, 0x100, out _);
        Assert.NotEqual(ctxA, ctxB);

        // B sends, posts, forwards and disconnects on A's context: refused by the server, nothing reaches A's peer.
        var stray = Nbls.Send(new byte[] { 1, 2, 3 });
        Assert.Equal(NdisStatus.Pending, b.TcpOffloadSend(ctxA, stray));
        var strayDisconnect = Nbls.Empty();
        Assert.Equal(NdisStatus.Pending, b.TcpOffloadDisconnect(ctxA, strayDisconnect, TcpDisconnectFlags.Abortive));
        var strayPost = Nbls.Post(100);
        Assert.Equal(NdisStatus.Pending, b.TcpOffloadReceive(ctxA, strayPost));
        Assert.True(hostB.WaitFor(h => h.SendsCompleted.Contains(stray) && h.DisconnectsCompleted.Contains(strayDisconnect) && h.ReceivesCompleted.Contains(strayPost), Wait));
        Assert.Equal(NdisStatus.RequestAborted, stray.Status);
        Assert.Equal(NdisStatus.RequestAborted, strayDisconnect.Status);
        Assert.Equal(NdisStatus.RequestAborted, strayPost.Status);

        // B terminates and queries A's objects through linker blocks: every block fails, A's objects stay.
        var foreign = new OffloadBlock(OffloadBlockType.TcpOffloadState) { MiniportOffloadContext = new OffloadContextSlot(ctxA), NdisOffloadHandle = 0x103 };
        Assert.Equal(NdisStatus.Pending, b.TerminateOffload(foreign));
        Assert.True(hostB.WaitFor(h => h.Terminated.Contains(foreign), Wait));
        Assert.Equal(NdisStatus.Failure, foreign.Status);
        var query = new OffloadBlock(OffloadBlockType.TcpOffloadState) { MiniportOffloadContext = new OffloadContextSlot(ctxA), TcpDelegated = new TcpDelegatedState() };
        Assert.Equal(NdisStatus.Pending, b.QueryOffloadState(query));
        Assert.True(hostB.WaitFor(h => h.Queried.Contains(query), Wait));
        Assert.Equal(NdisStatus.Failure, query.Status);
        Assert.Equal(2, lab.Target.ConnectionCount);

        // A's connection still works both ways, and only A hears about it.
        var up = Nbls.Pattern(100_000, 5);
        a.TcpOffloadSend(ctxA, Nbls.Chain(up, 10_000));
        var down = Nbls.Pattern(50_000, 6);
        lab.PeerSend(peerA, down);
        await PumpUntil(hostA, () => lab.PeerReceivedLength(peerA) == up.Length && hostA.Locked(h => h.Received.Length) == down.Length);
        Assert.Equal(up, lab.PeerReceivedBytes(peerA));
        Assert.Equal(down, hostA.Locked(h => h.Received.ToArray()));
        Assert.Equal(0, lab.PeerReceivedLength(peerB));
        Assert.Equal(0, hostB.Locked(h => h.Received.Length));
        Assert.Empty(hostB.Locked(h => h.Indications.ToList()));

        // A query from A on its own connection works.
        var own = new OffloadBlock(OffloadBlockType.TcpOffloadState) { MiniportOffloadContext = new OffloadContextSlot(ctxA), TcpDelegated = new TcpDelegatedState() };
        a.QueryOffloadState(own);
        Assert.True(hostA.WaitFor(h => h.Queried.Contains(own), Wait));
        Assert.Equal(NdisStatus.Success, own.Status);
        Assert.Equal(TcpState.Established, own.TcpDelegated!.State);
        _ = rootA;
    }

    [Fact]
    public async Task A_client_that_disappears_has_its_connections_aborted_and_its_objects_freed()
    {
        await using var lab = new LiveLab();
        var hostA = new TestHost();
        var hostB = new TestHost();
        var a = lab.Connect(hostA, "leaving");
        await using var b = lab.Connect(hostB, "staying");
        var (peerA, machineA) = lab.Establish(40201);
        var (peerB, machineB) = lab.Establish(40202);
        ulong ctxA = Offload(lab, a, hostA, machineA, 0x100, out _);
        ulong ctxB = Offload(lab, b, hostB, machineB, 0x200, out _);
        // A leaves sends in flight and unread data at the target.
        a.TcpOffloadSend(ctxA, Nbls.Chain(Nbls.Pattern(200_000, 7), 20_000));
        lab.PeerSend(peerA, Nbls.Pattern(300_000, 8));
        Assert.Equal(2, lab.Target.ConnectionCount);
        Assert.Equal(6, lab.Server.ObjectCount);

        await a.DisposeAsync(); // the socket closes without a terminate
        await lab.Server.WaitForCleanupAsync(Wait);
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && (lab.Target.ConnectionCount != 1 || lab.Server.ObjectCount != 3)) await Task.Delay(10);
        Assert.Equal(1, lab.Target.ConnectionCount);
        Assert.Equal(3, lab.Server.ObjectCount);
        // The abortive disconnect reset A's peer (the only RST a target sends, spec §6.1).
        end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && peerA.Machine.State != TcpState.Closed) await Task.Delay(10);
        Assert.Equal(TcpState.Closed, peerA.Machine.State);

        // B is untouched and keeps working.
        var data = Nbls.Pattern(64_000, 9);
        b.TcpOffloadSend(ctxB, Nbls.Chain(data, 16_000));
        await PumpUntil(hostB, () => lab.PeerReceivedLength(peerB) == data.Length);
        Assert.Equal(data, lab.PeerReceivedBytes(peerB));
        Assert.Equal(TcpState.Established, peerB.Machine.State);
    }

    [Fact]
    public async Task A_client_that_leaves_with_an_initiate_still_pending_has_that_connection_uploaded_once_it_completes()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        var client = lab.Connect(host, "hasty");
        var (_, machine) = lab.Establish(40251);
        var root = lab.BuildTree(machine, 0x100, out _);
        client.InitiateOffload(root);
        await client.DisposeAsync(); // gone before (or while) the initiate completes
        await lab.Server.WaitForCleanupAsync(Wait);
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && (lab.Target.ConnectionCount != 0 || lab.Server.ObjectCount != 0)) await Task.Delay(10);
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal(0, lab.Server.ObjectCount);
    }

    [Fact]
    public async Task Four_clients_move_data_both_ways_at_once_each_byte_exact()
    {
        await using var lab = new LiveLab();
        var clients = new List<(TestHost Host, Client.RemoteOffloadTarget Client, LiveLab.Peer Peer, ulong Ctx, byte[] Up, byte[] Down)>();
        for (int i = 0; i < 4; i++)
        {
            var host = new TestHost();
            var client = lab.Connect(host, $"c{i}");
            var (peer, machine) = lab.Establish((ushort)(40260 + i));
            ulong ctx = Offload(lab, client, host, machine, 0x100, out _);
            clients.Add((host, client, peer, ctx, Nbls.Pattern(300_000, 20 + i), Nbls.Pattern(300_000, 40 + i)));
        }
        foreach (var c in clients)
        {
            c.Client.TcpOffloadSend(c.Ctx, Nbls.Chain(c.Up, 30_000));
            lab.PeerSend(c.Peer, c.Down);
        }
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && clients.Exists(c => lab.PeerReceivedLength(c.Peer) < c.Up.Length || c.Host.Locked(h => h.Received.Length) < c.Down.Length))
        {
            foreach (var c in clients) c.Host.ReturnAccepted();
            await Task.Delay(5);
        }
        foreach (var c in clients)
        {
            Assert.Equal(c.Up, lab.PeerReceivedBytes(c.Peer));
            Assert.Equal(c.Down, c.Host.Locked(h => h.Received.ToArray()));
            Assert.Equal(0, c.Host.OverlappingReceiveCallbacks);
            await c.Client.DisposeAsync();
        }
        await lab.Server.WaitForCleanupAsync(Wait);
        end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && lab.Target.ConnectionCount != 0) await Task.Delay(10);
        Assert.Equal(0, lab.Target.ConnectionCount);
    }
}
