using System.Net.Sockets;
using OffloadEmu.Link.Decorators;

namespace OffloadEmu.HostStack.Tests;

/// <summary>
/// Bytes that arrive while the application waits in a read with nothing queued go straight into the read's buffer
/// (<see cref="ReceiveQueue.Append"/>: an indication's or a completed post's bytes, one copy instead of two), only the
/// rest into the queue. These tests check that the stream stays exact and in order: through indications larger than the
/// read, losses and duplicates (later segments arriving out of order), uploads and re-offloads at random points, and the
/// peer's FIN or RST while a read waits; the chimney contract holds (<see cref="StackLab"/> fails on any violation).
/// </summary>
public sealed class ReceiveCopyTests
{
    private static StackLab Lab(ImpairmentSpec? damage = null, ulong seed = 0)
        => new(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake }, impairment: damage, impairmentSeed: seed);

    [Theory]
    [InlineData(1, 64 * 1024)]
    [InlineData(2, 1000)]
    [InlineData(3, 200 * 1024)]
    [InlineData(4, 17_001)]
    public void Lost_and_duplicated_segments_with_a_read_waiting_arrive_byte_exact(int seed, int readSize)
    {
        // Every loss makes the segments after it arrive out of order (held by the target's reassembly until the
        // retransmission fills the hole); duplicates arrive inside data already delivered. (The lab's impairment has no
        // delay, so no reordering of its own: the kernel test adds that.)
        var damage = new ImpairmentSpec { LossPercent = 1, DuplicatePercent = 2 };
        using var lab = Lab(damage, (ulong)seed);
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var down = AppIo.Pattern(3_000_000 + seed * 777, seed);
        var received = new MemoryStream();
        var read = AppIo.ReadAsync(socket, down.Length, readSize, received);
        peer.Send(down);
        lab.RunUntil(() => read.IsCompleted, TimeSpan.FromSeconds(600));
        Assert.False(read.IsFaulted, read.Exception?.ToString());
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
        Assert.Equal(down.Length, received.Length);
        Assert.True(down.AsSpan().SequenceEqual(received.ToArray()), $"seed {seed}: the stream differs at {FirstDifference(down, received.ToArray())}");
        Assert.True(peer.Machine.Statistics.RetransmittedSegments > 0, "no segment was lost");
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Uploads_and_reoffloads_while_reads_wait_keep_the_stream_byte_exact(int seed)
    {
        var random = new Random(seed);
        using var lab = Lab(seed % 2 == 0 ? new ImpairmentSpec { LossPercent = 1 } : null, (ulong)seed);
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        var down = AppIo.Pattern(3_000_000 + random.Next(1000), seed);
        var received = new MemoryStream();
        var read = AppIo.ReadAsync(socket, down.Length, 1000 + random.Next(100_000), received);
        peer.Send(down);
        int uploads = 0;
        var end = lab.Now + TimeSpan.FromSeconds(300);
        while (!read.IsCompleted)
        {
            Assert.True(lab.Now < end, $"seed {seed}: stalled. {lab.Describe()}");
            for (int i = random.Next(1, 12); i > 0; i--) lab.StepOrAdvance();
            if (random.Next(3) == 0) continue;
            if (socket.Location == ConnectionLocation.Offloaded)
            {
                lab.Run(socket.UploadAsync());
                uploads++;
            }
            else if (socket.Location == ConnectionLocation.Host)
            {
                lab.Run(socket.OffloadAsync());
            }
        }
        Assert.False(read.IsFaulted, read.Exception?.ToString());
        Assert.True(down.AsSpan().SequenceEqual(received.ToArray()), $"seed {seed}: the stream differs at {FirstDifference(down, received.ToArray())}");
        Assert.True(uploads >= 2, $"only {uploads} uploads");
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Fact]
    public void An_indication_larger_than_the_waiting_read_fills_it_and_queues_the_rest_in_order()
    {
        using var lab = Lab();
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var first = AppIo.Pattern(40_000, 21);
        peer.Send(first);
        lab.Step();   // the peer's segments go out
        // The target takes them and, with no post, starts an indication; it waits in the completion queue (the lab's
        // completions run only in Step).
        lab.Target.Poll(lab.Now);
        Assert.True(lab.Queue.PendingCount > 0, "no indication was started");
        // A read much smaller than the indication waits (its post is too late for these bytes).
        var buffer = new byte[3000];
        var pending = socket.ReadAsync(buffer);
        Assert.False(pending.IsCompleted);
        lab.RunUntil(() => pending.IsCompleted, TimeSpan.FromSeconds(5));
        int n = lab.Run(pending.AsTask());
        Assert.True(n > 0);
        Assert.True(first.AsSpan(0, n).SequenceEqual(buffer.AsSpan(0, n)), $"first read differs at {FirstDifference(first, buffer.AsSpan(0, n).ToArray())}");
        var rest = lab.Run(AppIo.ReadAsync(socket, first.Length - n, 7000));
        Assert.True(first.AsSpan(n).SequenceEqual(rest), "the bytes after the first read differ");
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Theory]
    [InlineData(100_000)]
    [InlineData(131_072)]
    [InlineData(5)]
    public void The_peers_fin_while_a_read_waits_gives_every_byte_then_end_of_stream(int length)
    {
        using var lab = Lab();
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var down = AppIo.Pattern(length, length);
        var received = new MemoryStream();
        var read = AppIo.ReadAsync(socket, int.MaxValue, 64 * 1024, received);
        peer.Send(down);
        // Every byte read and the next read waiting (its post with the target): then the FIN.
        lab.RunUntil(() => received.Length == down.Length, TimeSpan.FromSeconds(5));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.True(socket.Connection.PostOutstanding);
        Assert.False(read.IsCompleted);
        peer.Machine.Close();
        lab.RunUntil(() => read.IsCompleted, TimeSpan.FromSeconds(5));
        Assert.False(read.IsFaulted, read.Exception?.ToString());
        Assert.Equal(down, received.ToArray());
        Assert.Equal(0, lab.Run(socket.ReadAsync(new byte[64 * 1024]).AsTask()));
        lab.Run(socket.CloseAsync());
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(130));
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Fact]
    public void The_peers_reset_while_a_read_waits_fails_the_read()
    {
        using var lab = Lab();
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var down = AppIo.Pattern(50_000, 3);
        peer.Send(down);
        Assert.Equal(down, lab.Run(AppIo.ReadAsync(socket, down.Length, 64 * 1024)));
        var pending = socket.ReadAsync(new byte[64 * 1024]);
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.True(socket.Connection.PostOutstanding);
        peer.Machine.Abort();
        lab.RunUntil(() => pending.IsCompleted, TimeSpan.FromSeconds(5));
        var error = Assert.Throws<IOException>(() => lab.Run(pending.AsTask()));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(5));
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Fact]
    public async Task Queue_bytes_for_a_waiting_read_fill_it_first_and_the_rest_follows_in_order()
    {
        var rx = new ReceiveQueue(64 * 1024, asyncContinuations: false);
        var buffer = new byte[1000];
        var read = rx.ReadAsync(buffer, out bool pending);
        Assert.True(pending);
        var data = AppIo.Pattern(2500, 1);
        Assert.Equal(2500, rx.Append(data, data.Length));
        Assert.Equal(1000, await read);
        Assert.True(data.AsSpan(0, 1000).SequenceEqual(buffer));
        Assert.Equal(1500, rx.Count);
        // Queued bytes come before newer ones, for a waiting read too.
        var more = AppIo.Pattern(700, 2);
        rx.AppendAll(more);
        var all = new byte[4000];
        int n = await rx.ReadAsync(all, out pending);
        Assert.False(pending);
        Assert.Equal(2200, n);
        Assert.True(data.AsSpan(1000).SequenceEqual(all.AsSpan(0, 1500)));
        Assert.True(more.AsSpan().SequenceEqual(all.AsSpan(1500, 700)));
        var second = rx.ReadAsync(all, out pending);
        Assert.True(pending);
        rx.AppendAll(data);   // all of it fits the read: nothing queued
        Assert.Equal(2500, await second);
        Assert.Equal(0, rx.Count);
        Assert.Equal(2500 + 700 + 2500, rx.TotalAppended);
    }

    [Fact]
    public void Queue_bytes_beyond_the_soft_limit_are_refused_even_with_a_read_waiting_for_part_of_them()
    {
        var rx = new ReceiveQueue(4096, asyncContinuations: false);
        var read = rx.ReadAsync(new byte[100], out _);
        var data = AppIo.Pattern(20_000, 3);
        int taken = rx.Append(data, rx.Free);
        Assert.Equal(4096, taken);
        Assert.True(read.IsCompleted);
        Assert.Equal(4096 - 100, rx.Count);
    }

    private static int FirstDifference(byte[] expected, byte[] actual)
    {
        int n = Math.Min(expected.Length, actual.Length);
        for (int i = 0; i < n; i++)
            if (expected[i] != actual[i]) return i;
        return n;
    }
}
