using System.Buffers;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Tests;

/// <summary>
/// Spec §3 "NB start advanced by TcpOffloadBytesTransferred" across the control protocol: the client fills the host's
/// posts as the target does, a shadow post carries its free space and pre-filled count, and the server ships back the
/// bytes a target placed (before the advanced start), not the ones after it.
/// </summary>
public sealed class ReceiveAdvanceTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static ControlMessage RoundTrip(ControlMessage message)
    {
        var seq = new ReadOnlySequence<byte>(message.ToArray());
        Assert.True(ControlMessage.TryReadFrame(ref seq, int.MaxValue, out var type, out var id, out var payload));
        return ControlMessage.Decode(type, id, payload);
    }

    [Fact]
    public void A_server_receive_completion_ships_the_bytes_before_each_advanced_data_start()
    {
        // A server post as ReadNbl makes it: NBs of one segment each, windows from offset 0; the target placed 70 bytes
        // (NB 0 full, 20 in NB 1) and advanced both starts. What follows the starts is stale and must not be sent.
        var placed = Nbls.Pattern(70, 3);
        var nbl = new NetBufferList(2, 1) { RequestId = 9, Status = NdisStatus.Success, TcpOffloadBytesTransferred = 70 };
        var a = new byte[50];
        var b = new byte[40];
        Array.Fill(b, (byte)0xEE);
        nbl.AddBuffer().AddWritableSegment(a);
        nbl.AddBuffer().AddWritableSegment(b);
        nbl.CopyFrom(0, placed);
        nbl[0].Advance(50);
        nbl[1].Advance(20);

        var decoded = (ReceiveCompleteMessage)RoundTrip(new ReceiveCompleteMessage { Source = [(0x77UL, nbl)] });
        var entry = Assert.Single(decoded.Entries);
        Assert.Equal((0x77UL, 9UL, NdisStatus.Success), (entry.Context, entry.Id, entry.Status));
        Assert.Equal(placed, entry.Data.Span.ToArray());
        decoded.Release();
    }

    [Fact]
    public void A_shadow_post_carries_its_free_space_and_its_pre_filled_count()
    {
        var post = new NetBufferList(1, 1) { RequestId = 4, TcpReceiveNoPush = false, TcpReceiveBytesTransferred = 100 };
        post.AddBuffer().AddWritableSegment(new byte[1000]);
        post[0].SetData(100, 900); // the host's 100 bytes lie before the window
        var decoded = (IoRequestMessage)RoundTrip(new IoRequestMessage(MessageType.TcpReceive) { Context = 1, Chain = post });
        var shadow = decoded.Chain;
        Assert.Equal(100, shadow.TcpReceiveBytesTransferred); // the server's target starts its push timer at once
        Assert.Equal(900, shadow.DataLength);
        Assert.Equal(0, shadow[0].DataOffset);
        WireCodec.ReleaseChain(shadow);
    }

    [Fact]
    public async Task The_client_fills_host_posts_as_the_target_does_each_advanced_past_its_bytes()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = RemoteOffloadTarget.Connect(lab.SocketPath, new RemoteOffloadTargetOptions { ClientName = "advance" });
        // The contract checker between host and client: CC120 if a completion's start did not move by its bytes.
        var checker = new ContractChecker(client, new ContractCheckerOptions { Mode = ContractCheckerMode.Record });
        host.Target = checker;
        checker.Bind(host);
        var (peer, machine) = lab.Establish(40100);
        var root = lab.BuildTree(machine, 0x300, out var tcp);
        Assert.Equal(NdisStatus.Pending, checker.InitiateOffload(root));
        Assert.True(host.WaitFor(h => h.Initiated.Contains(root), Wait), "initiate did not complete");
        ulong ctx = tcp.MiniportOffloadContext!.Context;

        // Three non-push posts that together take exactly what the peer sends: a plain one, one whose first 50 bytes the
        // host pre-filled (window after them), and one over three MDLs.
        var plain = Nbls.Post(1000, noPush: true);
        var prefilled = Nbls.Post(1050, noPush: true);
        var hostBytes = Nbls.Pattern(50, 7);
        prefilled.CopyFrom(0, hostBytes);
        prefilled[0].SetData(50, 1000);
        prefilled.TcpReceiveBytesTransferred = 50;
        var segmented = new NetBufferList(1, 3) { TcpReceiveNoPush = true };
        var nb = segmented.AddBuffer();
        for (int i = 0; i < 3; i++) nb.AddWritableSegment(new byte[700]);
        Assert.Equal(NdisStatus.Pending, checker.TcpOffloadReceive(ctx, plain));
        Assert.Equal(NdisStatus.Pending, checker.TcpOffloadReceive(ctx, prefilled));
        Assert.Equal(NdisStatus.Pending, checker.TcpOffloadReceive(ctx, segmented));
        var down = Nbls.Pattern(4100, 8);
        lab.PeerSend(peer, down);
        Assert.True(host.WaitFor(h => h.ReceivesCompleted.Count == 3, Wait), "the posts did not complete");

        Assert.Equal(down, host.Locked(h => h.Received.ToArray())); // TestHost reads before each data start
        Assert.Equal((1000, 1000, 0), (plain.TcpOffloadBytesTransferred, plain[0].DataOffset, plain[0].DataLength));
        Assert.Equal((1000, 1050, 0), (prefilled.TcpOffloadBytesTransferred, prefilled[0].DataOffset, prefilled[0].DataLength));
        var all = new byte[1050];
        prefilled[0].CopyBeforeDataStart(all);
        Assert.Equal([.. hostBytes, .. down.AsSpan(1000, 1000)], all); // the host's bytes untouched, then the target's
        Assert.Equal((2100, 2100, 0), (segmented.TcpOffloadBytesTransferred, segmented[0].DataOffset, segmented[0].DataLength));
        Assert.Empty(checker.Violations);
    }
}
