using System.Net.Sockets;

namespace OffloadEmu.HostStack.Tests;

/// <summary>The peer's FIN or RST at seeded random points while the connection moves between host and target.</summary>
public sealed class PeerCloseTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void PeerFinAtARandomPoint_EveryByteThenEndOfStream(int seed)
    {
        var random = new Random(seed);
        using var lab = Connected(out var socket, out var peer);
        ReadToEndWhileHandingOver(lab, socket, peer, random, AppIo.Pattern(200_000 + random.Next(800_000), seed));
        lab.Run(socket.CloseAsync());
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(130)); // TIME-WAIT may hold a host-mode end
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void PeerRstAtARandomPoint_ResetErrorAndEverythingReleased(int seed)
    {
        var random = new Random(seed);
        using var lab = Connected(out var socket, out var peer);
        var received = new MemoryStream();
        var read = AppIo.ReadAsync(socket, int.MaxValue, 16 * 1024, received);
        var write = AppIo.WriteAsync(socket, AppIo.Pattern(20_000_000, seed + 50));
        peer.Send(AppIo.Pattern(20_000_000, seed));
        int rounds = random.Next(3, 30);
        Toggle(lab, socket, random, () => --rounds <= 0);
        Assert.False(write.IsCompleted || read.IsCompleted, "the transfer ended before the reset");
        peer.Machine.Abort();
        lab.RunUntil(() => read.IsCompleted && write.IsCompleted, TimeSpan.FromSeconds(30));
        var error = Assert.IsType<IOException>(read.Exception!.InnerException);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        Assert.True(write.IsFaulted, "the writer did not see the reset");
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(5));
        Assert.Equal(ConnectionLocation.Closed, socket.Location);
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
        Assert.Equal((0, 0, 0), lab.Stack.OffloadedObjects);
    }

    [Fact]
    public void Time_wait_returned_by_the_target_goes_on_in_host_mode_and_acks_a_retransmitted_fin()
    {
        // We close first while offloaded; the peer's FIN puts the target in TIME-WAIT, which it hands back (retrieve).
        var msl = TimeSpan.FromSeconds(2);
        using var lab = new StackLab(new HostStackOptions
        {
            OffloadPolicy = OffloadPolicy.AfterHandshake,
            Tcp = TcpConfig.Default with { Msl = msl },
        });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var read = AppIo.ReadToEndAsync(socket);
        lab.Run(socket.ShutdownAsync(), TimeSpan.FromSeconds(5));   // our FIN, ACKed: FIN-WAIT-2
        Assert.Equal(TcpState.CloseWait, peer.Machine.State);

        lab.PeerIgnoresTcp = true;   // our ACK of the peer's FIN is lost: the peer will send its FIN again
        peer.Machine.Close();
        lab.RunUntil(() => socket.Location == ConnectionLocation.Host, TimeSpan.FromSeconds(5));
        Assert.Empty(lab.Run(read));
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal(1, lab.Stack.ConnectionCount);   // kept in host mode, in TIME-WAIT
        var uploadedAt = lab.Now;
        lab.PeerIgnoresTcp = false;
        lab.RunUntil(() => peer.Machine.State == TcpState.Closed, TimeSpan.FromSeconds(10));   // the repeated FIN got its ACK
        Assert.True(lab.Now - uploadedAt < 2 * msl, "the peer closed only after our TIME-WAIT would have ended");
        Assert.False((peer.Events & TcpEvents.Reset) != 0, "the peer was reset instead of ACKed");
        Assert.Equal(1, lab.Stack.ConnectionCount);
        // After 2·MSL the host-mode TIME-WAIT ends and the connection (and the target's path and neighbour) are gone.
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, 2 * msl + TimeSpan.FromSeconds(1));
        Assert.True(lab.Now - uploadedAt > msl, "TIME-WAIT ended early");
        Assert.Equal((0, 0, 0), lab.Stack.OffloadedObjects);
    }

    [Theory]
    [InlineData(1_000)]     // indicated with the disconnect before the upload
    [InlineData(150_000)]   // more than the host's receive queue takes: the target still holds some with the FIN
    [InlineData(190_000)]   // nearly the whole window (the queue's 128 KiB and the target's 64 KiB)
    public void Peer_fin_taken_by_the_target_before_an_upload_and_re_offload_still_ends_the_stream(int size)
    {
        // The application reads nothing while the peer sends its data and FIN to the offloaded connection, then the
        // connection is uploaded (in CLOSE-WAIT, possibly with bytes the target still held) and offloaded again before the
        // first read. The target of the second offload never sees that FIN: the host must end the stream itself. (Seen as
        // `connect --receive --upload-every` waiting forever after its last upload.)
        using var lab = Connected(out var socket, out var peer);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var down = AppIo.Pattern(size, size);
        peer.Send(down);
        peer.Machine.Close();
        lab.RunUntil(() => peer.Machine.State == TcpState.FinWait2, TimeSpan.FromSeconds(10)); // every byte and the FIN ACKed
        lab.Run(socket.UploadAsync());
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        Assert.True(lab.Run(socket.OffloadAsync()), "the re-offload was refused");
        var read = AppIo.ReadToEndAsync(socket);
        lab.RunUntil(() => read.IsCompleted, TimeSpan.FromSeconds(10));
        Assert.Equal(down, lab.Run(read));
        lab.Run(socket.CloseAsync());
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(130));
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Closing_second_across_hand_overs_needs_no_retransmission(int seed)
    {
        // An echo server's end: the peer sends and closes; we read to the end, send our reply and close, with uploads and
        // re-offloads at random points all along. Once the peer has everything and has ACKed our FIN it goes deaf (a peer
        // process that exited): our side must already hold that ACK. An ACK lost inside a hand-over would leave us in
        // LAST-ACK retransmitting into nothing (seen in the CLI's in-memory tests: the listener timed out in LAST-ACK).
        var random = new Random(seed);
        using var lab = Connected(out var socket, out var peer);
        ReadToEndWhileHandingOver(lab, socket, peer, random, AppIo.Pattern(50_000 + random.Next(200_000), seed));
        var up = AppIo.Pattern(20_000 + random.Next(100_000), seed + 100);
        var closed = ReplyAndShutdownAsync(socket, up);
        Toggle(lab, socket, random, () => peer.Machine.State is TcpState.TimeWait or TcpState.Closed);
        lab.PeerIgnoresTcp = true;
        lab.RunUntil(() => closed.IsCompleted, TimeSpan.FromMilliseconds(100));   // less than any retransmission timeout
        lab.Run(closed);
        Assert.Equal(up, peer.Received.ToArray());
    }

    [Fact]
    public void Fin_unacknowledged_at_an_upload_is_retransmitted_in_host_mode()
    {
        // LAST-ACK on the target, our FIN not yet ACKed (the peer hears nothing for now), then an upload: host mode must
        // retransmit the FIN until the peer answers. (The CLI's in-memory tests once sat 25 s in host-mode LAST-ACK with
        // "retransmits 0 in host mode".)
        using var lab = Connected(out var socket, out var peer);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        peer.Machine.Close();
        var read = AppIo.ReadToEndAsync(socket);
        Assert.Empty(lab.Run(read));
        lab.PeerIgnoresTcp = true;
        var shutdown = socket.ShutdownAsync();
        lab.RunFor(TimeSpan.FromMilliseconds(50));
        Assert.False(shutdown.IsCompleted);
        lab.Run(socket.UploadAsync());
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        int before = lab.WireFromHost.Count;
        lab.RunFor(TimeSpan.FromSeconds(5));
        Assert.True(lab.WireFromHost.Count > before, $"no retransmission of the FIN in 5 s of host mode. {lab.Describe()}");
        lab.PeerIgnoresTcp = false;
        lab.Run(shutdown, TimeSpan.FromSeconds(30));
        Assert.Equal(TcpState.TimeWait, peer.Machine.State);   // it closed first: our FIN, retransmitted, got its ACK
    }

    private static async Task ReplyAndShutdownAsync(OffloadSocket socket, byte[] reply)
    {
        await AppIo.WriteAsync(socket, reply);
        await socket.ShutdownAsync();
    }

    /// <summary>A lab whose host connected to the peer's port 7, offloaded after the handshake.</summary>
    private static StackLab Connected(out OffloadSocket socket, out PeerConnection peer)
    {
        var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        lab.PeerListens.Add(7);
        socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        peer = Assert.Single(lab.PeerConnections.Values);
        return lab;
    }

    /// <summary>The peer sends <paramref name="down"/> then its FIN; we read to the end of the stream with uploads and
    /// re-offloads at random points, and must get every byte once, in order.</summary>
    private static void ReadToEndWhileHandingOver(StackLab lab, OffloadSocket socket, PeerConnection peer, Random random, byte[] down)
    {
        var read = AppIo.ReadToEndAsync(socket);
        peer.Send(down);
        peer.Machine.Close(); // FIN after the data
        Toggle(lab, socket, random, () => read.IsCompleted);
        Assert.Equal(down, lab.Run(read));
    }

    /// <summary>Runs rounds, uploading or re-offloading at random points, until <paramref name="done"/>.</summary>
    private static void Toggle(StackLab lab, OffloadSocket socket, Random random, Func<bool> done)
    {
        var end = lab.Now + TimeSpan.FromSeconds(60);
        while (!done())
        {
            Assert.True(lab.Now < end, lab.Describe());
            for (int i = random.Next(1, 6); i > 0; i--) lab.StepOrAdvance();
            if (random.Next(3) != 0) continue;
            if (socket.Location == ConnectionLocation.Offloaded) lab.Run(socket.UploadAsync());
            else if (socket.Location == ConnectionLocation.Host) lab.Run(socket.OffloadAsync());
        }
    }
}
