using OffloadEmu.Link.Devices;

namespace OffloadEmu.Link.Tests;

public sealed class MemoryLinkTests
{
    private static FrameBuffer Frame(FramePool pool, int length, byte tag)
    {
        var f = pool.Rent();
        f.Capacity[..length].Fill(tag);
        f.Length = length;
        return f;
    }

    [Fact]
    public void Delivers_in_order_both_ways()
    {
        MemoryLink.CreatePair(out var a, out var b);
        using var _a = a;
        using var _b = b;
        var pool = new FramePool(2048);
        var batch = new FrameBuffer[5];
        for (int i = 0; i < batch.Length; i++) batch[i] = Frame(pool, 60 + i, (byte)i);
        Assert.Equal(5, a.Send(batch));

        var rx = new FrameBuffer[8];
        for (int i = 0; i < rx.Length; i++) rx[i] = pool.Rent();
        Assert.Equal(5, b.Receive(rx, 0));
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(60 + i, rx[i].Length);
            Assert.All(rx[i].Span.ToArray(), x => Assert.Equal((byte)i, x));
        }
        Assert.Equal(0, a.Receive(rx, 0));

        Assert.Equal(1, b.Send(batch.AsSpan(0, 1)));
        Assert.Equal(1, a.Receive(rx, 0));
        Assert.Equal(5, a.Statistics.FramesOut);
        Assert.Equal(5, b.Statistics.FramesIn);
        Assert.Equal(1, a.Statistics.FramesIn);
        Assert.Equal(a.MacAddress, b.Peer.MacAddress);
    }

    [Fact]
    public void Full_queue_drops_are_counted_as_QueueFull()
    {
        MemoryLink.CreatePair(out var a, out var b, new MemoryLinkOptions { Capacity = 4 });
        using var _a = a;
        using var _b = b;
        var pool = new FramePool(2048);
        var batch = new FrameBuffer[6];
        for (int i = 0; i < batch.Length; i++) batch[i] = Frame(pool, 64, (byte)i);

        Assert.Equal(4, a.Send(batch));
        Assert.Equal(2, a.Statistics.Drops(DropReason.QueueFull));
        Assert.Equal(4, b.QueuedFrames);

        var rx = new FrameBuffer[8];
        for (int i = 0; i < rx.Length; i++) rx[i] = pool.Rent();
        Assert.Equal(4, b.Receive(rx, 0));
        Assert.Equal(3, rx[3].Span[0]);   // the first four survived, in order
    }

    [Fact]
    public void Oversized_and_runt_frames_are_dropped()
    {
        MemoryLink.CreatePair(out var a, out var b);
        using var _a = a;
        using var _b = b;
        var pool = new FramePool(4096);
        var frames = new[] { Frame(pool, 1519, 1), Frame(pool, 10, 2), Frame(pool, 1518, 3) };
        Assert.Equal(1, a.Send(frames));
        Assert.Equal(1, a.Statistics.Drops(DropReason.TooLong));
        Assert.Equal(1, a.Statistics.Drops(DropReason.TooShort));
    }

    [Fact]
    public void Receive_timeout_is_honoured()
    {
        MemoryLink.CreatePair(out var a, out var b);
        using var _a = a;
        using var _b = b;
        var rx = new[] { new FramePool(2048).Rent() };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, b.Receive(rx, 150));
        sw.Stop();
        Assert.InRange(sw.ElapsedMilliseconds, 140, 2000);

        sw.Restart();
        Assert.Equal(0, b.Receive(rx, 0));
        Assert.InRange(sw.ElapsedMilliseconds, 0, 50);
    }

    [Fact]
    public async Task Blocked_receive_wakes_on_send()
    {
        MemoryLink.CreatePair(out var a, out var b);
        using var _a = a;
        using var _b = b;
        var pool = new FramePool(2048);
        var rx = new[] { pool.Rent() };
        var receiver = Task.Run(() => b.Receive(rx, 5000));
        await Task.Delay(50);
        a.Send(new[] { Frame(pool, 100, 7) });
        Assert.Equal(1, await receiver.WaitAsync(TimeSpan.FromSeconds(2)));
        Assert.Equal(100, rx[0].Length);
    }

    [Fact]
    public void Dispose_is_idempotent_and_peer_sends_count_InterfaceDown()
    {
        MemoryLink.CreatePair(out var a, out var b);
        var pool = new FramePool(2048);
        b.Dispose();
        b.Dispose();
        Assert.Equal(0, a.Send(new[] { Frame(pool, 64, 1) }));
        Assert.Equal(1, a.Statistics.Drops(DropReason.InterfaceDown));
        Assert.Throws<ObjectDisposedException>(() => b.Receive(new[] { pool.Rent() }, 0));
        a.Dispose();
    }

    [Fact]
    public void Send_and_receive_of_10000_frames_allocate_nothing_after_warm_up()
    {
        MemoryLink.CreatePair(out var a, out var b);
        using var _a = a;
        using var _b = b;
        var pool = new FramePool(2048);
        var tx = new FrameBuffer[8];
        var rx = new FrameBuffer[8];
        for (int i = 0; i < tx.Length; i++) { tx[i] = Frame(pool, 1514, (byte)i); rx[i] = pool.Rent(); }

        void Run(int rounds)
        {
            for (int r = 0; r < rounds; r++)
            {
                a.Send(tx);
                int n = 0;
                while (n < tx.Length) n += b.Receive(rx.AsSpan(n), 100);
            }
        }

        Run(100);   // warm-up: JIT, tiering, statics
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(10_000 / tx.Length);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(100 * 8 + 10_000, b.Statistics.FramesIn);
    }

    [Fact]
    public void Multi_queue_pair_steers_each_frame_to_its_queue_and_every_queue_reaches_the_peer()
    {
        MemoryLink.CreateMultiQueue(out var queues, out var peer, 3);
        using var _p = peer;
        var pool = new FramePool(2048);
        // Steer by the frame's first byte (its tag): frame i goes to queue i % 3.
        peer.Steering = static (frame, n) => frame[0] % n;
        var batch = new FrameBuffer[7];
        for (int i = 0; i < batch.Length; i++) batch[i] = Frame(pool, 60, (byte)i);
        Assert.Equal(7, peer.Send(batch));
        var rx = new FrameBuffer[8];
        for (int i = 0; i < rx.Length; i++) rx[i] = pool.Rent();
        for (int q = 0; q < 3; q++)
        {
            int n = queues[q].Receive(rx, 0);
            var tags = new List<byte>();
            for (int i = 0; i < n; i++) tags.Add(rx[i].Span[0]);
            Assert.Equal(Enumerable.Range(0, 7).Where(t => t % 3 == q).Select(t => (byte)t), tags); // in order per queue
        }
        Assert.Equal("mem0/q2", queues[2].Name);

        // Every queue sends to the single end, in the order sent.
        queues[2].Send([Frame(pool, 61, 20)]);
        queues[0].Send([Frame(pool, 62, 21)]);
        Assert.Equal(2, peer.Receive(rx, 0));
        Assert.Equal(20, rx[0].Span[0]);
        Assert.Equal(21, rx[1].Span[0]);

        // A closed queue: the frames steered to it are counted as interface-down drops, the others still arrive.
        queues[1].Dispose();
        Assert.Equal(1, peer.Send([Frame(pool, 60, 0), Frame(pool, 60, 1)]));
        Assert.Equal(1, peer.Statistics.Drops(DropReason.InterfaceDown));
        queues[0].Dispose();
        queues[2].Dispose();
    }

    [Fact]
    public void Default_steering_keeps_a_flow_on_one_queue_and_puts_non_ip_on_queue_zero()
    {
        var tcp = new byte[14 + 20 + 20];
        tcp[12] = 0x08;
        tcp[14] = 0x45;
        tcp[14 + 9] = 6;
        tcp[34] = 0x9C; tcp[35] = 0x40; tcp[36] = 0; tcp[37] = 7; // 40000 -> 7
        int q = MemoryLink.DefaultSteering(tcp, 4);
        Assert.Equal((40000 * 31 + 7) % 4, q);
        Assert.Equal(q, MemoryLink.DefaultSteering(tcp, 4));
        var arp = new byte[60];
        arp[12] = 0x08; arp[13] = 0x06;
        Assert.Equal(0, MemoryLink.DefaultSteering(arp, 4));
    }
}
