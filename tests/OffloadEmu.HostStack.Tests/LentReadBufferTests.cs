using System.Net.Sockets;
using OffloadEmu.Link.Decorators;

namespace OffloadEmu.HostStack.Tests;

/// <summary>
/// <see cref="HostStackOptions.LendReadBuffers"/>: an offloaded connection's receive post is the application's own read
/// buffer, so the target places the bytes straight where the reader wants them. These tests check that the bytes still
/// arrive exactly once and in order when segments are lost (the later ones arriving out of order) or duplicated, while indications race the
/// post, across uploads and re-offloads, and at the peer's FIN or RST, and that the chimney contract holds
/// (<see cref="StackLab"/> fails on any violation at dispose).
/// </summary>
public sealed class LentReadBufferTests
{
    private static StackLab Lab(ImpairmentSpec? damage = null, ulong seed = 0, bool lend = true)
        => new(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake, LendReadBuffers = lend },
            impairment: damage, impairmentSeed: seed);

    [Theory]
    [InlineData(1, 64 * 1024)]
    [InlineData(2, 16 * 1024)]
    [InlineData(3, 200 * 1024)]
    [InlineData(4, 17_001)]
    public void Lost_and_duplicated_segments_with_a_read_buffer_posted_arrive_byte_exact(int seed, int readSize)
    {
        // Every loss makes the segments after it arrive out of order (held by the target's reassembly until the
        // retransmission fills the hole) while a read buffer is posted; duplicates arrive inside data already placed.
        // (The lab's impairment has no delay, so no reordering of its own: the kernel test adds that.)
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
        Assert.True(lab.Stack.Statistics.LentPosts > 10, $"only {lab.Stack.Statistics.LentPosts} lent posts");
        Assert.True(peer.Machine.Statistics.RetransmittedSegments > 0, "no segment was lost");
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Uploads_and_reoffloads_while_the_read_buffer_is_posted_keep_the_stream_byte_exact(int seed)
    {
        var random = new Random(seed);
        using var lab = Lab(seed % 2 == 0 ? new ImpairmentSpec { LossPercent = 1 } : null, (ulong)seed);
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        var down = AppIo.Pattern(3_000_000 + random.Next(1000), seed);
        var received = new MemoryStream();
        var read = AppIo.ReadAsync(socket, down.Length, 16 * 1024 + random.Next(100_000), received);
        peer.Send(down);
        int uploads = 0;
        long lentAtUpload = 0;
        var end = lab.Now + TimeSpan.FromSeconds(300);
        while (!read.IsCompleted)
        {
            Assert.True(lab.Now < end, $"seed {seed}: stalled. {lab.Describe()}");
            for (int i = random.Next(1, 12); i > 0; i--) lab.StepOrAdvance();
            if (random.Next(3) == 0) continue;
            if (socket.Location == ConnectionLocation.Offloaded)
            {
                // Most uploads find the read's buffer with the target (its post is completed UPLOAD_IN_PROGRESS, or
                // SUCCESS with what it holds, spec §6.6).
                if (socket.Connection.LentPost is not null) lentAtUpload++;
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
        Assert.True(lentAtUpload >= 1, $"no upload found the read buffer posted ({uploads} uploads)");
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Fact]
    public void An_indication_on_its_way_while_the_read_buffer_is_posted_is_refused_and_its_bytes_land_in_the_post_in_order()
    {
        // A read buffer is posted just after the target started an indication (the post queues behind it, spec §3 (a)):
        // the host refuses the indication and the target puts those bytes into the read buffer first.
        using var lab = Lab();
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var first = AppIo.Pattern(40_000, 21);
        peer.Send(first);
        lab.Step();   // the peer's segments go out
        // No read yet: the target takes the segments and, with no post, starts an indication; it waits in the
        // completion queue (the lab's completions run only in Step).
        lab.Target.Poll(lab.Now);
        Assert.True(lab.Queue.PendingCount > 0, "no indication was started");
        var buffer = new byte[64 * 1024];
        var pending = socket.ReadAsync(buffer);
        lab.Stack.Poll(lab.Now);   // the read's buffer is posted now, before the indication reaches the host
        Assert.False(pending.IsCompleted);
        Assert.NotNull(socket.Connection.LentPost);
        var second = AppIo.Pattern(10_000, 22);
        peer.Send(second);
        lab.RunUntil(() => pending.IsCompleted, TimeSpan.FromSeconds(5));
        int n = lab.Run(pending.AsTask());
        var expected = first.Concat(second).ToArray();
        Assert.True(n > 0);
        Assert.True(expected.AsSpan(0, n).SequenceEqual(buffer.AsSpan(0, n)), $"first read differs at {FirstDifference(expected, buffer.AsSpan(0, n).ToArray())}");
        var rest = lab.Run(AppIo.ReadAsync(socket, expected.Length - n, 64 * 1024));
        Assert.True(expected.AsSpan(n).SequenceEqual(rest));
        Assert.True(lab.Stack.Statistics.IndicationsDeferredToPost >= 1, "the indication was not refused");
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Theory]
    [InlineData(100_000)]
    [InlineData(131_072)]
    [InlineData(5)]
    public void The_peers_fin_while_the_read_buffer_is_posted_gives_every_byte_then_end_of_stream(int length)
    {
        using var lab = Lab();
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var down = AppIo.Pattern(length, length);
        var received = new MemoryStream();
        var read = AppIo.ReadAsync(socket, int.MaxValue, 64 * 1024, received);
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.NotNull(socket.Connection.LentPost);
        peer.Send(down);
        // Every byte read, the next read's buffer posted and empty: then the FIN (an idle reader whose peer closes).
        lab.RunUntil(() => received.Length == down.Length, TimeSpan.FromSeconds(5));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.NotNull(socket.Connection.LentPost);
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
    public void The_peers_reset_while_the_read_buffer_is_posted_fails_the_read_once_the_post_is_back()
    {
        using var lab = Lab();
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var down = AppIo.Pattern(50_000, 3);
        peer.Send(down);
        var got = lab.Run(AppIo.ReadAsync(socket, down.Length, 64 * 1024));
        Assert.Equal(down.Length, got.Length);
        var pending = socket.ReadAsync(new byte[64 * 1024]);
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.NotNull(socket.Connection.LentPost);
        peer.Machine.Abort();
        lab.RunUntil(() => pending.IsCompleted, TimeSpan.FromSeconds(5));
        var error = Assert.Throws<IOException>(() => lab.Run(pending.AsTask()));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        Assert.Null(socket.Connection.LentPost);
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(5));
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }

    [Fact]
    public void A_read_with_a_cancellable_token_gets_a_pool_buffer_posted_not_its_own()
    {
        using var lab = Lab();
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        using var cts = new CancellationTokenSource();
        var buffer = new byte[64 * 1024];
        var pending = socket.ReadAsync(buffer, cts.Token);
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.True(socket.Connection.PostOutstanding);
        Assert.Null(socket.Connection.LentPost);
        Assert.Equal(0, lab.Stack.Statistics.LentPosts);
        // Cancelled while its post is out: the buffer is the application's again at once, and no byte is lost.
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => lab.Run(pending.AsTask()));
        buffer.AsSpan().Fill(0xEE);
        var down = AppIo.Pattern(30_000, 4);
        peer.Send(down);
        Assert.Equal(down, lab.Run(AppIo.ReadAsync(socket, down.Length, 64 * 1024)));
        Assert.All(buffer, b => Assert.Equal(0xEE, b));
    }

    [Fact]
    public void Off_the_stream_is_the_same_and_nothing_is_lent()
    {
        using var lab = Lab(lend: false);
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        var down = AppIo.Pattern(1_000_000, 5);
        var read = AppIo.ReadAsync(socket, down.Length, 64 * 1024);
        peer.Send(down);
        Assert.Equal(down, lab.Run(read, TimeSpan.FromSeconds(60)));
        Assert.Equal(0, lab.Stack.Statistics.LentPosts);
        Assert.Equal(0, lab.Stack.Statistics.IndicationsDeferredToPost);
    }

    [Fact]
    public async Task Queue_bytes_queued_while_the_buffer_is_lent_come_before_the_posts_bytes()
    {
        var rx = new ReceiveQueue(64 * 1024, asyncContinuations: false);
        var buffer = new byte[1000];
        var read = rx.ReadAsync(buffer, out bool pending);
        Assert.True(pending);
        Assert.True(rx.TryLendPendingBuffer(800, out var lent));
        Assert.Equal(800, lent.Length);
        Assert.False(rx.TryLendPendingBuffer(800, out _));   // one lend at a time
        // Earlier bytes arrive another way while the buffer is out: the read must not complete into the lent memory.
        var early = AppIo.Pattern(300, 1);
        Assert.Equal(300, rx.Append(early, early.Length));
        Assert.False(read.IsCompleted);
        var placed = AppIo.Pattern(800, 2);
        placed.CopyTo(lent.Span);
        rx.ReturnLent(placed.Length);
        Assert.True(read.IsCompleted);
        int n = await read;
        Assert.Equal(1000, n);
        var expected = early.Concat(placed).ToArray();
        Assert.True(expected.AsSpan(0, 1000).SequenceEqual(buffer));
        var rest = new byte[200];
        var second = rx.ReadAsync(rest, out pending);
        Assert.False(pending);
        Assert.Equal(100, await second);
        Assert.True(expected.AsSpan(1000).SequenceEqual(rest.AsSpan(0, 100)));
        Assert.Equal(1100, rx.TotalAppended);
    }

    [Fact]
    public void Queue_an_error_while_the_buffer_is_lent_fails_the_read_only_when_the_post_is_back()
    {
        var rx = new ReceiveQueue(64 * 1024, asyncContinuations: false);
        var read = rx.ReadAsync(new byte[4096], out _);
        Assert.True(rx.TryLendPendingBuffer(4096, out _));
        rx.SetError(ReceiveQueue.ResetError("reset"));
        Assert.False(read.IsCompleted);   // the target may still write into the buffer
        rx.ReturnLent(0);
        Assert.True(read.IsFaulted);
        Assert.IsType<IOException>(read.AsTask().Exception!.InnerException);
    }

    [Fact]
    public void Queue_a_cancellable_read_is_never_lent()
    {
        var rx = new ReceiveQueue(64 * 1024, asyncContinuations: false);
        using var cts = new CancellationTokenSource();
        _ = rx.ReadAsync(new byte[4096], out _, cts.Token);
        Assert.False(rx.TryLendPendingBuffer(4096, out _));
        cts.Cancel();
    }

    private static int FirstDifference(byte[] expected, byte[] actual)
    {
        int n = Math.Min(expected.Length, actual.Length);
        for (int i = 0; i < n; i++)
            if (expected[i] != actual[i]) return i;
        return n;
    }
}
