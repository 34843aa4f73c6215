using OffloadEmu.Control.Client;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Tests;

public sealed class TransferTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static ulong Offload(LiveLab lab, IOffloadTarget client, TestHost host, TcpMachine machine, ulong handleBase, out OffloadBlock root, out OffloadBlock tcp)
    {
        root = lab.BuildTree(machine, handleBase, out tcp);
        Assert.Equal(NdisStatus.Pending, client.InitiateOffload(root));
        var r = root;
        Assert.True(host.WaitFor(h => h.Initiated.Contains(r), Wait), "initiate did not complete");
        foreach (var v in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, v.Block.Status);
        Assert.True(tcp.MiniportOffloadContext!.HasContext);
        return tcp.MiniportOffloadContext.Context;
    }

    [Fact]
    public async Task Offload_then_one_MiB_each_way_then_terminate_is_byte_exact_through_the_socket()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = lab.Connect(host);
        client.Trace = [];
        Assert.Equal(lab.Target.MacAddress, client.MacAddress);
        Assert.Equal(lab.Target.Mtu, client.Mtu);
        var (peer, machine) = lab.Establish(40000);
        ulong ctx = Offload(lab, client, host, machine, 0x100, out var root, out var tcp);

        // Host to peer: 1 MiB as 16 sends of 64 KiB, completed only once ACKed.
        var up = Nbls.Pattern(1 << 20, 1);
        var sends = Nbls.Chain(up, 64 * 1024);
        Assert.Equal(NdisStatus.Pending, client.TcpOffloadSend(ctx, sends));
        // Peer to host: 1 MiB; a few posts first, the rest arrives as indications.
        var down = Nbls.Pattern(1 << 20, 2);
        host.Reference = down;
        for (int i = 0; i < 4; i++) Assert.Equal(NdisStatus.Pending, client.TcpOffloadReceive(ctx, Nbls.Post(32 * 1024)));
        lab.PeerSend(peer, down);
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && (lab.PeerReceivedLength(peer) < up.Length || host.Locked(h => h.Received.Length) < down.Length || host.Locked(h => h.SendsCompleted.Count) < 16))
        {
            host.ReturnAccepted();
            await Task.Delay(10);
        }
        host.ReturnAccepted();
        var got = lab.PeerReceivedBytes(peer);
        for (int i = 0; i < Math.Min(got.Length, up.Length); i++)
        {
            if (got[i] == up[i]) continue;
            int found = -1;
            for (int j = 0; j + 16 <= up.Length; j++) if (up.AsSpan(j, 16).SequenceEqual(got.AsSpan(i, 16))) { found = j; break; }
            Assert.Fail($"first difference at {i} of {got.Length}; actual bytes found at {found} in the sent data");
        }
        Assert.Equal(up, lab.PeerReceivedBytes(peer));
        var gotDown = host.Locked(h => h.Received.ToArray());
        for (int i = 0; i < Math.Min(gotDown.Length, down.Length); i++)
        {
            if (gotDown[i] == down[i]) continue;
            int found = -1;
            for (int j = 0; j + 16 <= down.Length; j++) if (down.AsSpan(j, 16).SequenceEqual(gotDown.AsSpan(i, 16))) { found = j; break; }
            var log = host.Locked(h => string.Join(",", h.Log.Take(8))) + " | " + string.Join(",", client.Trace!.Take(30));
            Assert.Fail($"first difference at {i} of {gotDown.Length}; actual bytes found at {found}; {log}");
        }
        Assert.Equal(down, gotDown);
        host.Locked(h =>
        {
            Assert.Equal(16, h.SendsCompleted.Count);
            Assert.All(h.SendsCompleted, n => Assert.Equal(NdisStatus.Success, n.Status));
            Assert.All(h.SendsCompleted, n => Assert.Equal(64 * 1024, n.TcpOffloadBytesTransferred));
            Assert.Equal(4, h.ReceivesCompleted.Count);
            Assert.True(h.Indications.Count > 0);
            Assert.Equal(0, h.OverlappingReceiveCallbacks);
            return 0;
        });

        Assert.Equal(NdisStatus.Pending, client.TerminateOffload(root));
        Assert.True(host.WaitFor(h => h.Terminated.Contains(root), Wait), "terminate did not complete");
        foreach (var v in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, v.Block.Status);
        var d = tcp.TcpDelegated!;
        Assert.Equal(TcpState.Established, d.State);
        lock (lab) { }
        Assert.Null(d.SendDataHead);
        Assert.Null(d.BufferedData);
        Assert.Equal(peer.Machine.SndNxt, d.RcvNxt);
        Assert.Equal(peer.Machine.RcvNxt, d.SndUna);
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Null(client.DispatchError);
    }

    [Fact]
    public async Task A_send_chain_larger_than_a_control_message_goes_in_several_and_an_nbl_too_big_for_any_fails_alone()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = lab.Connect(host);
        var (peer, machine) = lab.Establish(40020);
        ulong ctx = Offload(lab, client, host, machine, 0x300, out _, out _);

        // 6 MiB in one chain of 24 sends: more than one 4 MiB control message holds. Before the client split chains the
        // server refused the oversized frame and closed the session.
        var up = Nbls.Pattern(6 << 20, 4);
        Assert.Equal(NdisStatus.Pending, client.TcpOffloadSend(ctx, Nbls.Chain(up, 256 * 1024)));
        // One NBL bigger than any message: completed alone with RESOURCES, the session and the connection go on.
        var huge = Nbls.Chain(Nbls.Pattern(5 << 20, 5), 5 << 20);
        Assert.Equal(NdisStatus.Pending, client.TcpOffloadSend(ctx, huge));
        var tail = Nbls.Pattern(64 * 1024, 6);
        Assert.Equal(NdisStatus.Pending, client.TcpOffloadSend(ctx, Nbls.Chain(tail, 64 * 1024)));
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && (lab.PeerReceivedLength(peer) < up.Length + tail.Length || host.Locked(h => h.SendsCompleted.Count) < 26))
            await Task.Delay(10);
        Assert.Equal([.. up, .. tail], lab.PeerReceivedBytes(peer));
        host.Locked(h =>
        {
            Assert.Equal(26, h.SendsCompleted.Count);
            Assert.Single(h.SendsCompleted, n => n == huge);
            Assert.Equal(NdisStatus.Resources, huge.Status);
            Assert.All(h.SendsCompleted.Where(n => n != huge), n => Assert.Equal(NdisStatus.Success, n.Status));
            return 0;
        });
        Assert.Null(client.DispatchError);
    }

    [Fact]
    public async Task An_initiate_handing_over_6_MiB_each_way_goes_in_fragments_and_is_byte_exact()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = lab.Connect(host);
        Assert.Equal(ControlProtocol.Version, client.ProtocolVersion);
        var (peer, machine) = lab.Establish(40030);
        // A re-offload handing over 6 MiB of send data not yet acknowledged (here not yet sent) and 6 MiB received but
        // not yet taken by the application: one initiate of about 12 MiB. Until 2026-12-07 it completed RESOURCES (and
        // before that the server closed the session as Oversized and the initiate never completed).
        var root = lab.BuildTree(machine, 0x400, out var tcp);
        var up = Nbls.Pattern(6 << 20, 7);
        var down = Nbls.Pattern(6 << 20, 8);
        var sends = Nbls.Chain(up, 256 * 1024);
        tcp.NetBufferListChain = sends;
        tcp.TcpDelegated!.SendDataHead = sends;
        var last = sends;
        while (last.Next is not null) last = last.Next;
        tcp.TcpDelegated.SendDataTail = last;
        tcp.TcpDelegated.BufferedData = Nbls.Send(down);
        host.Reference = down;
        Assert.Equal(NdisStatus.Pending, client.InitiateOffload(root));
        Assert.True(host.WaitFor(h => h.Initiated.Contains(root), Wait), "the fragmented initiate did not complete");
        foreach (var v in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, v.Block.Status);
        Assert.True(client.FragmentedRequests >= 1, "the initiate was not fragmented");
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && (lab.PeerReceivedLength(peer) < up.Length || host.Locked(h => h.Received.Length) < down.Length || host.Locked(h => h.SendsCompleted.Count) < 24))
        {
            host.ReturnAccepted();
            await Task.Delay(10);
        }
        host.ReturnAccepted();
        Assert.True(up.AsSpan().SequenceEqual(lab.PeerReceivedBytes(peer)), "the peer did not get the 6 MiB handed over, byte-exact");
        Assert.True(down.AsSpan().SequenceEqual(host.Locked(h => h.Received.ToArray())), "the host did not get the 6 MiB of buffered data back, byte-exact");
        host.Locked(h =>
        {
            Assert.Equal(24, h.SendsCompleted.Count);
            Assert.All(h.SendsCompleted, n => Assert.Equal(NdisStatus.Success, n.Status));
            return 0;
        });
        Assert.True(client.IsConnected);
        Assert.Null(client.DispatchError);
    }

    [Fact]
    public async Task A_terminate_returning_6_MiB_of_undelivered_data_and_6_MiB_of_sends_comes_back_in_fragments_byte_exact()
    {
        // The server takes at most 64 KiB of indications the host has not consumed: the target keeps the rest.
        await using var lab = new LiveLab(new Server.ControlServerOptions { MaxUnconsumedReceiveBytes = 64 * 1024 });
        var host = new TestHost { Answer = _ => (NdisStatus.OffloadDataNotAccepted, 0) };
        await using var client = lab.Connect(host);
        var (peer, machine) = lab.Establish(40032, hostReceiveBuffer: 8 << 20);
        var initialSndUna = machine.SndUna;
        ulong ctx = Offload(lab, client, host, machine, 0x600, out var root, out var tcp);
        // The peer sends 6 MiB and reads nothing: the target holds what the host did not take, the host's 6 MiB of
        // sends stay unacknowledged beyond the peer's window.
        var down = Nbls.Pattern(6 << 20, 9);
        var up = Nbls.Pattern(6 << 20, 10);
        lab.SetPeerReads(peer, false);
        lab.PeerSend(peer, down);
        var sends = Nbls.Chain(up, 256 * 1024);
        var issued = new List<NetBufferList>();
        for (var n = sends; n is not null; n = n.Next) issued.Add(n);
        Assert.Equal(NdisStatus.Pending, client.TcpOffloadSend(ctx, sends));
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && lab.PeerSendQueue(peer) > 0) await Task.Delay(10);
        Assert.Equal(0, lab.PeerSendQueue(peer));
        await Task.Delay(100);

        Assert.Equal(NdisStatus.Pending, client.TerminateOffload(root));
        Assert.True(host.WaitFor(h => h.Terminated.Contains(root), Wait), "terminate did not complete");
        foreach (var v in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, v.Block.Status);
        Assert.Equal(1, client.FragmentedCompletions);
        var d = tcp.TcpDelegated!;
        // Every received byte once, in order: what the client held first, then the target's (more than one message).
        var buffered = d.BufferedData;
        Assert.NotNull(buffered);
        var got = new byte[NetBufferListChain.GetDataLength(buffered)];
        NetBufferListChain.CopyTo(buffered, 0, got);
        Assert.True(down.AsSpan().SequenceEqual(got), $"BufferedData: {got.Length} bytes, not the 6 MiB the peer sent");
        client.TcpOffloadReceiveReturn(buffered!);
        // The unacknowledged sends are the host's own NBLs, advanced past what the peer acknowledged.
        long acked = (uint)(d.SndUna.Value - initialSndUna.Value);
        var returned = new List<byte>();
        int count = 0;
        for (var n = tcp.NetBufferListChain; n is not null; n = n.Next, count++)
        {
            Assert.Contains(n, issued);
            var bytes = new byte[n.DataLength];
            n.CopyTo(0, bytes);
            returned.AddRange(bytes);
        }
        Assert.True(count > 0);
        Assert.True(up.AsSpan((int)acked).SequenceEqual(returned.ToArray()), $"returned sends: {returned.Count} bytes after {acked} acknowledged");
        var returnedSet = new HashSet<NetBufferList>(ReferenceEqualityComparer.Instance);
        for (var n = tcp.NetBufferListChain; n is not null; n = n.Next) returnedSet.Add(n);
        Assert.Equal(0, host.Locked(h => h.SendsCompleted.Count(returnedSet.Contains))); // returned, not completed as well
        Assert.True(client.IsConnected);
        Assert.Null(client.DispatchError);
    }

    [Fact]
    public async Task A_host_that_refuses_and_partly_accepts_indications_then_posts_gets_every_byte_once_in_order()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = lab.Connect(host);
        var (peer, machine) = lab.Establish(40010);
        ulong ctx = Offload(lab, client, host, machine, 0x200, out _, out _);
        int n = 0;
        // Every third indication refused, every third partly taken (137 bytes), the rest taken; after a refusal or a
        // partial the host posts (push and non-push, odd sizes), as a host that sizes posts from a header would.
        host.Answer = nbl =>
        {
            n++;
            return (n % 3) switch
            {
                0 => (NdisStatus.OffloadDataNotAccepted, 0),
                1 when nbl.DataLength > 137 => (NdisStatus.OffloadDataPartiallyAccepted, 137),
                _ => (NdisStatus.Success, (int)nbl.DataLength),
            };
        };
        int posts = 0;
        host.AfterReceive = () =>
        {
            if (Interlocked.Increment(ref posts) > 400) return;
            client.TcpOffloadReceive(ctx, Nbls.Post(5000 + posts % 3 * 777, noPush: posts % 4 == 0));
        };
        var down = Nbls.Pattern(600_000, 3);
        // A non-push post completes only when full (spec §3: no timer, PSH ignored), so the post holding the last bytes of
        // the stream would wait for more: the peer sends 64 KiB more than is checked (more than any post holds).
        var stream = new byte[down.Length + 64 * 1024];
        down.CopyTo(stream, 0);
        host.Reference = stream;
        lab.PeerSend(peer, stream);
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && host.Locked(h => h.Received.Length) < down.Length)
        {
            host.ReturnAccepted();
            // A host that has posted nothing for a while posts once more (zero-byte included) so nothing stalls.
            client.TcpOffloadReceive(ctx, Nbls.Post(posts % 2 == 0 ? 0 : 8192));
            await Task.Delay(20);
        }
        host.ReturnAccepted();
        var got = host.Locked(h => h.Received.ToArray());
        for (int i = 0; i < Math.Min(got.Length, stream.Length); i++)
        {
            if (got[i] == stream[i]) continue;
            int found = -1;
            for (int j = 0; j + 16 <= stream.Length; j++) if (stream.AsSpan(j, 16).SequenceEqual(got.AsSpan(i, Math.Min(16, got.Length - i)))) { found = j; break; }
            var log = host.Locked(h => string.Join(",", h.Log));
            int at = log.IndexOf("@" + found, StringComparison.Ordinal);
            Assert.Fail($"first difference at {i} of {got.Length}; actual bytes found at {found}; {log.Substring(Math.Max(0, at - 600), Math.Min(900, log.Length - Math.Max(0, at - 600)))}");
        }
        Assert.True(got.Length >= down.Length, $"{got.Length} of {down.Length} bytes delivered");
        Assert.Equal(down, got.AsSpan(0, down.Length).ToArray());
        Assert.Equal(0, host.OverlappingReceiveCallbacks);
        Assert.True(host.Locked(h => h.Indications.Exists(i => i.Answer == NdisStatus.OffloadDataNotAccepted)));
        Assert.True(host.Locked(h => h.Indications.Exists(i => i.Answer == NdisStatus.OffloadDataPartiallyAccepted)));
        Assert.Null(client.DispatchError);
    }
}
