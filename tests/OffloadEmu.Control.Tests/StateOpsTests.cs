using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Tests;

public sealed class StateOpsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Update_query_forward_graceful_disconnect_and_invalidate_complete_through_the_socket()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = lab.Connect(host);
        var (peer, machine) = lab.Establish(40701);
        var root = lab.BuildTree(machine, 0x100, out var tcp);
        client.InitiateOffload(root);
        Assert.True(host.WaitFor(h => h.Initiated.Contains(root), Wait));
        ulong ctx = tcp.MiniportOffloadContext!.Context;
        var path = root.DependentBlockList!;

        // Update: the path's MTU through a linker block (cached state only).
        var update = new OffloadBlock(OffloadBlockType.Ip4OffloadCachedState)
        {
            MiniportOffloadContext = new OffloadContextSlot(path.MiniportOffloadContext!.Context),
            PathCached = new PathCachedState { PathMtu = 1400 },
        };
        client.UpdateOffload(update);
        Assert.True(host.WaitFor(h => h.Updated.Contains(update), Wait));
        Assert.Equal(NdisStatus.Success, update.Status);

        // Query: the path's cached state comes back as updated, the TCP block's delegated state as now.
        var qPath = new OffloadBlock(OffloadBlockType.Ip4OffloadState) { MiniportOffloadContext = new OffloadContextSlot(path.MiniportOffloadContext.Context), PathCached = new PathCachedState() };
        var qTcp = new OffloadBlock(OffloadBlockType.TcpOffloadState) { MiniportOffloadContext = new OffloadContextSlot(ctx), TcpDelegated = new TcpDelegatedState() };
        qPath.NextBlock = qTcp;
        client.QueryOffloadState(qPath);
        Assert.True(host.WaitFor(h => h.Queried.Contains(qPath), Wait));
        Assert.Equal(NdisStatus.Success, qPath.Status);
        Assert.Equal(1400u, qPath.PathCached!.Value.PathMtu);
        Assert.Equal(machine.RcvNxt, qTcp.TcpDelegated!.RcvNxt);

        // Forward: a malformed segment is accepted and counted (docs/target.md), the completion comes back by id.
        var forward = Nbls.Send(new byte[20]);
        forward.Status = NdisStatus.Pending;
        client.TcpOffloadForward(ctx, forward);
        Assert.True(host.WaitFor(h => h.ForwardsCompleted.Contains(forward), Wait));
        Assert.Equal(NdisStatus.Success, forward.Status);

        // Graceful disconnect: data then FIN; SUCCESS once the FIN is ACKed.
        var tail = Nbls.Pattern(5000, 4);
        client.TcpOffloadSend(ctx, Nbls.Send(tail));
        var fin = Nbls.Empty();
        fin.Status = NdisStatus.Pending;
        client.TcpOffloadDisconnect(ctx, fin, TcpDisconnectFlags.Graceful);
        Assert.True(host.WaitFor(h => h.DisconnectsCompleted.Contains(fin), Wait));
        Assert.Equal(NdisStatus.Success, fin.Status);
        Assert.Equal(tail, lab.PeerReceivedBytes(peer));
        Assert.Equal(TcpState.CloseWait, lab.PeerState(peer));

        // Invalidate the neighbour: completes, the connection asks to be uploaded.
        var invalidate = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = new OffloadContextSlot(root.MiniportOffloadContext!.Context) };
        client.InvalidateOffload(invalidate);
        Assert.True(host.WaitFor(h => h.Events.Exists(e => e.Type == TcpOffloadEventType.Retrieve && e.Handle == tcp.NdisOffloadHandle), Wait));
        Assert.Equal(NdisStatus.Success, invalidate.Status);
        Assert.Contains(host.Locked(h => h.Events.ToList()), e => e.Info == (uint)TcpUploadReason.InvalidState);
    }

    [Fact]
    public async Task A_neighbour_reachability_query_reaches_the_owning_host_with_its_own_handle()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = lab.Connect(host);
        Assert.Equal(NdisStatus.Success, client.SetParameters(OffloadParameters.Default with { NceStaleTicks = 20 }));
        var (peer, machine) = lab.Establish(40901);
        var root = lab.BuildTree(machine, 0x500, out var tcp);
        client.InitiateOffload(root);
        Assert.True(host.WaitFor(h => h.Initiated.Contains(root), Wait));
        ulong ctx = tcp.MiniportOffloadContext!.Context;
        // No forward progress for longer than NceStaleTicks, then a send: the target asks about the neighbour first.
        lab.SetPeerReads(peer, false);
        await Task.Delay(200);
        for (int i = 0; i < 20 && host.Locked(h => h.NeighborEvents.Count) == 0; i++)
        {
            client.TcpOffloadSend(ctx, Nbls.Send(new byte[100]));
            await Task.Delay(100);
        }
        var events = host.Locked(h => h.NeighborEvents.ToList());
        Assert.NotEmpty(events);
        Assert.Equal(0x501UL, events[0].Handle);
        Assert.Equal(NeighborEventCode.Query, events[0].Code);
    }

    [Fact]
    public async Task When_the_server_goes_away_the_client_aborts_its_connections_and_fails_what_is_outstanding()
    {
        var lab = new LiveLab();
        try
        {
            var host = new TestHost();
            await using var client = lab.Connect(host);
            var (peer, machine) = lab.Establish(40801);
            var root = lab.BuildTree(machine, 0x100, out var tcp);
            client.InitiateOffload(root);
            Assert.True(host.WaitFor(h => h.Initiated.Contains(root), Wait));
            ulong ctx = tcp.MiniportOffloadContext!.Context;
            lab.SetPeerReads(peer, false);
            var big = Nbls.Send(Nbls.Pattern(2_000_000, 1));
            client.TcpOffloadSend(ctx, big);
            var post = Nbls.Post(100_000, noPush: true);
            client.TcpOffloadReceive(ctx, post);
            // A graceful disconnect queued behind the unread data: outstanding too, and completed as a disconnect.
            var fin = new NetBufferList(1, 1);
            fin.AddBuffer();
            client.TcpOffloadDisconnect(ctx, fin, TcpDisconnectFlags.Graceful);
            await Task.Delay(200);

            await lab.Server.DisposeAsync();
            Assert.True(host.WaitFor(h => h.Events.Exists(e => e.Type == TcpOffloadEventType.Abort), Wait));
            Assert.True(host.WaitFor(h => h.SendsCompleted.Contains(big) && h.ReceivesCompleted.Contains(post) && h.DisconnectsCompleted.Contains(fin), Wait));
            Assert.Equal(NdisStatus.RequestAborted, big.Status);
            Assert.Equal(NdisStatus.RequestAborted, post.Status);
            Assert.Equal(NdisStatus.RequestAborted, fin.Status);
            Assert.DoesNotContain(fin, host.Locked(h => h.SendsCompleted.ToList()));
            // Everything completed once, then the target said it is gone (the host fails what it still has).
            Assert.True(host.WaitFor(h => h.Statuses.Contains(NdisStatus.AdapterRemoved), Wait));
            Assert.Equal(NdisStatus.AdapterRemoved, host.Locked(h => h.Statuses[^1]));
            Assert.Equal(1, host.Locked(h => h.SendsCompleted.Count(n => ReferenceEquals(n, big))));
            Assert.Equal(1, host.Locked(h => h.DisconnectsCompleted.Count(n => ReferenceEquals(n, fin))));
            Assert.False(client.IsConnected);
            Assert.Equal(ProtocolError.Shutdown, client.CloseError);
            // New requests complete at once too.
            var late = Nbls.Send(new byte[10]);
            Assert.Equal(NdisStatus.Pending, client.TcpOffloadSend(ctx, late));
            Assert.True(host.WaitFor(h => h.SendsCompleted.Contains(late), Wait));
            Assert.Equal(NdisStatus.RequestAborted, late.Status);
            Assert.Null(client.DispatchError);
            Assert.False(File.Exists(lab.SocketPath));
        }
        finally
        {
            await lab.DisposeAsync();
        }
    }
}
