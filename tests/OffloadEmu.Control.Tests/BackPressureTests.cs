namespace OffloadEmu.Control.Tests;

public sealed class BackPressureTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_host_that_refuses_everything_throttles_the_peer_through_the_credit_then_gets_every_byte_once_it_posts()
    {
        await using var lab = new LiveLab(new Server.ControlServerOptions { MaxUnconsumedReceiveBytes = 256 * 1024 });
        var host = new TestHost { Answer = _ => (NdisStatus.OffloadDataNotAccepted, 0) };
        await using var client = lab.Connect(host);
        var (peer, machine) = lab.Establish(40501);
        var root = lab.BuildTree(machine, 0x100, out var tcp);
        client.InitiateOffload(root);
        Assert.True(host.WaitFor(h => h.Initiated.Contains(root), Wait));
        ulong ctx = tcp.MiniportOffloadContext!.Context;

        var data = Nbls.Pattern(3 << 20, 11);
        lab.PeerSend(peer, data);
        await Task.Delay(1500);
        // Credit 256 KiB at the client, a 64 KiB window at the target: the peer is held back, nothing was taken.
        Assert.Equal(0, host.Locked(h => h.Received.Length));
        long stuck = lab.PeerSendQueue(peer);
        Assert.True(stuck > data.Length - 600 * 1024, $"peer still has {stuck} bytes queued");
        Assert.True(host.Locked(h => h.Indications.Count) >= 1);

        // The host starts posting: the held bytes go first, credit returns, the server re-arms the target, all arrives.
        var end = DateTime.UtcNow + Wait;
        int posted = 0;
        while (DateTime.UtcNow < end && host.Locked(h => h.Received.Length) < data.Length)
        {
            int completed = host.Locked(h => h.ReceivesCompleted.Count);
            while (posted - completed < 4)
            {
                // Non-push posts complete only when full (spec §3): the first few are, the rest push so the tail completes.
                client.TcpOffloadReceive(ctx, Nbls.Post(64 * 1024, noPush: posted < 3));
                posted++;
            }
            await Task.Delay(2);
        }
        Assert.Equal(data, host.Locked(h => h.Received.ToArray()));
        Assert.Null(client.DispatchError);
    }

    [Fact]
    public async Task Terminate_returns_the_bytes_the_client_held_before_the_targets_and_the_hosts_own_unacknowledged_sends()
    {
        await using var lab = new LiveLab();
        var host = new TestHost { Answer = _ => (NdisStatus.OffloadDataNotAccepted, 0) };
        await using var client = lab.Connect(host);
        var (peer, machine) = lab.Establish(40601);
        var sndUna0 = machine.SndUna;
        var root = lab.BuildTree(machine, 0x100, out var tcp);
        client.InitiateOffload(root);
        Assert.True(host.WaitFor(h => h.Initiated.Contains(root), Wait));
        ulong ctx = tcp.MiniportOffloadContext!.Context;

        // Receive: 150 KB the host refuses (held by the client, and by the target once its window is full).
        var down = Nbls.Pattern(150_000, 12);
        lab.PeerSend(peer, down);
        // Send: the peer stops reading, so most of 600 KB stays unacknowledged.
        lab.SetPeerReads(peer, false);
        var up = Nbls.Pattern(600_000, 13);
        var sends = Nbls.Chain(up, 100_000);
        var sendList = new List<NetBufferList>();
        for (var n = sends; n is not null; n = n.Next) sendList.Add(n);
        client.TcpOffloadSend(ctx, sends);
        await Task.Delay(1500);
        // Under load the first indication can come later than the settling delay: wait for it, bounded.
        Assert.True(host.WaitFor(h => h.Indications.Count >= 1, Wait));

        client.TerminateOffload(root);
        Assert.True(host.WaitFor(h => h.Terminated.Contains(root), Wait));
        var d = tcp.TcpDelegated!;
        Assert.Equal(NdisStatus.Success, tcp.Status);
        // Every received byte is in BufferedData (client-held first, then the target's), in order.
        var buffered = new byte[NetBufferListChain.GetDataLength(d.BufferedData)];
        NetBufferListChain.CopyTo(d.BufferedData, 0, buffered);
        var (peerSndNxt, peerRcvNxt) = lab.PeerSequence(peer);
        Assert.Equal(down, buffered);
        Assert.Equal(peerSndNxt, d.RcvNxt);
        Assert.Equal(NdisStatus.Success, client.TcpOffloadReceiveReturn(d.BufferedData!));
        // The returned chain is the host's own NBLs, in order, the head advanced to SndUna.
        Assert.NotNull(tcp.NetBufferListChain);
        Assert.Same(tcp.NetBufferListChain, d.SendDataHead);
        var returned = new List<NetBufferList>();
        for (var n = tcp.NetBufferListChain; n is not null; n = n.Next) returned.Add(n);
        Assert.Same(returned[^1], d.SendDataTail);
        var completed = host.Locked(h => h.SendsCompleted.ToList());
        Assert.Equal(sendList, completed.Concat(returned));
        Assert.All(completed, n => Assert.Equal(NdisStatus.Success, n.Status));
        var rest = new byte[NetBufferListChain.GetDataLength(tcp.NetBufferListChain)];
        NetBufferListChain.CopyTo(tcp.NetBufferListChain, 0, rest);
        Assert.Equal(up.Length - (d.SndUna - sndUna0), rest.Length);
        Assert.Equal(up.AsSpan(up.Length - rest.Length).ToArray(), rest);
        Assert.Equal(peerRcvNxt, d.SndUna);
    }
}
