namespace OffloadEmu.HostStack.Tests;

/// <summary>Cancelling a read or write that waits: it ends with <see cref="OperationCanceledException"/>, the
/// connection keeps working, and no byte is lost or duplicated, in host mode and offloaded.</summary>
public sealed class CancellationTests
{
    private static (StackLab Lab, OffloadSocket Socket, PeerConnection Peer) Connected(OffloadPolicy policy)
    {
        var lab = new StackLab(new HostStackOptions { OffloadPolicy = policy });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        if (policy == OffloadPolicy.AfterHandshake)
            lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        return (lab, socket, peer);
    }

    [Theory]
    [InlineData(OffloadPolicy.Never)]
    [InlineData(OffloadPolicy.AfterHandshake)]
    public void A_cancelled_pending_read_throws_and_the_next_read_gets_every_byte(OffloadPolicy policy)
    {
        var (lab, socket, peer) = Connected(policy);
        using var _ = lab;
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource();
        var read = socket.ReadAsync(buffer, cts.Token).AsTask();
        lab.RunFor(TimeSpan.FromMilliseconds(50));   // the read waits (offloaded: a receive post sized to it is out)
        Assert.False(read.IsCompleted);
        cts.Cancel();
        lab.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.True(read.IsCanceled || read.Exception?.InnerException is OperationCanceledException, $"read ended {read.Status}");

        // Data arriving afterwards (into the post made for the cancelled read, if offloaded) waits for the next read.
        var down = AppIo.Pattern(100_000, 3);
        peer.Send(down);
        var received = new MemoryStream();
        lab.Run(AppIo.ReadAsync(socket, down.Length, 8192, received), TimeSpan.FromSeconds(30));
        Assert.Equal(down, received.ToArray());
        Assert.Equal(policy == OffloadPolicy.AfterHandshake ? ConnectionLocation.Offloaded : ConnectionLocation.Host, socket.Location);
    }

    [Theory]
    [InlineData(OffloadPolicy.Never)]
    [InlineData(OffloadPolicy.AfterHandshake)]
    public void A_cancelled_write_waiting_for_space_throws_what_was_written_arrives_and_writing_goes_on(OffloadPolicy policy)
    {
        var (lab, socket, peer) = Connected(policy);
        using var _ = lab;
        peer.Reads = false;   // the peer's window closes: the send buffer fills and the write waits
        var first = AppIo.Pattern(4 * 1024 * 1024, 5);
        using var cts = new CancellationTokenSource();
        var write = socket.WriteAsync(first, cts.Token).AsTask();
        lab.RunFor(TimeSpan.FromMilliseconds(500));
        Assert.False(write.IsCompleted, "the write should be waiting for send-buffer space");
        cts.Cancel();
        lab.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.True(write.IsCanceled || write.Exception?.InnerException is OperationCanceledException, $"write ended {write.Status}");
        long accepted = socket.BytesWritten;
        Assert.InRange(accepted, 1, first.Length - 1);

        // The peer reads again: the accepted prefix arrives, then a new write follows it in order.
        peer.Reads = true;
        var second = AppIo.Pattern(50_000, 6);
        lab.Run(AppIo.WriteAsync(socket, second), TimeSpan.FromSeconds(60));
        lab.RunUntil(() => peer.Received.Length == accepted + second.Length, TimeSpan.FromSeconds(60));
        Assert.Equal(first.AsSpan(0, (int)accepted).ToArray().Concat(second).ToArray(), peer.Received.ToArray());
    }
}
