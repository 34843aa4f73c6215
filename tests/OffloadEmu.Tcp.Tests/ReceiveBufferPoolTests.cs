using OffloadEmu.Tcp;

namespace OffloadEmu.Tcp.Tests;

/// <summary>Issue 7 "Scale": the receive ring's storage is taken from a pool only while bytes are buffered and given back
/// when it drains; the window advertised does not change, and the pool never refuses (it grows).</summary>
public class ReceiveBufferPoolTests
{
    private static TcpConfig Config(ReceiveBufferPool pool, int bufferSize = 64 * 1024, bool sack = false)
        => new() { ReceiveBufferSize = bufferSize, Sack = sack, ReceiveBufferPool = pool, IsnGenerator = new IsnGenerator(new byte[32]) };

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Fact]
    public void Pool_ReusesAGivenBackBuffer_CountsAllocationsAndDiscards_AndTrims()
    {
        var pool = new ReceiveBufferPool(maxRetainedBytes: 2 * 65536);
        Assert.Equal(65536, ReceiveBufferPool.ClassSize(65536));
        Assert.Equal(131072, ReceiveBufferPool.ClassSize(65537));
        Assert.Equal(ReceiveBufferPool.MinClassSize, ReceiveBufferPool.ClassSize(64));
        var a = pool.Take(65536);
        var b = pool.Take(40000);
        var c = pool.Take(65536);
        Assert.Equal(65536, a.Length);
        Assert.Equal(65536, b.Length);
        Assert.Equal(3, pool.Allocations);
        Assert.Equal(3 * 65536, pool.OutstandingBytes);
        pool.Return(a);
        pool.Return(b);
        pool.Return(c); // the third would pass the retention bound: the garbage collector's
        Assert.Equal(1, pool.Discards);
        Assert.Equal(2 * 65536, pool.RetainedBytes);
        Assert.Equal(0, pool.OutstandingBuffers);
        var again = pool.Take(65536);
        Assert.True(ReferenceEquals(again, b) || ReferenceEquals(again, a));
        Assert.Equal(3, pool.Allocations); // served from the pool
        pool.Return(again);
        pool.Trim();
        Assert.Equal(0, pool.RetainedBytes);
        pool.Take(65536);
        Assert.Equal(4, pool.Allocations);
    }

    [Fact]
    public void IdleConnection_HoldsNoReceiveBuffer_AndDataPassingStraightToTheConsumerTakesNone()
    {
        var pool = new ReceiveBufferPool();
        var pair = ConnectedPair.Create(config: Config(pool));
        Assert.False(pair.A.HoldsReceiveBuffer);
        Assert.False(pair.B.HoldsReceiveBuffer);
        // The window offered is what it was when every machine owned its ring: the SYN's 16-bit field, 65,535.
        Assert.Equal(65535u, pair.B.RcvWnd);
        var consumer = new RecordingConsumer();
        pair.B.ReceiveConsumer = consumer;
        var data = Pattern(100_000, 1);
        pair.A.Enqueue(new MemorySendBuffer(data));
        for (int i = 0; i < 50 && consumer.Data.Count < data.Length; i++)
        {
            pair.Exchange();
            pair.Clock.AdvanceMs(250);
        }
        Assert.Equal(data, consumer.Data.ToArray());
        Assert.Equal(0, pool.Takes);
        Assert.False(pair.B.HoldsReceiveBuffer);
    }

    [Fact]
    public void DataAcrossManyTakesAndReturns_IsDeliveredExactly_AndTheBufferGoesBackEachTime()
    {
        var pool = new ReceiveBufferPool();
        var pair = ConnectedPair.Create(config: Config(pool, bufferSize: 32 * 1024));
        var consumer = new RecordingConsumer { Room = 0 };
        pair.B.ReceiveConsumer = consumer;
        var data = Pattern(1_000_000, 2);
        pair.A.Enqueue(new MemorySendBuffer(data));
        var random = new Random(3);
        int drains = 0;
        for (int round = 0; round < 20_000 && consumer.Data.Count < data.Length; round++)
        {
            pair.Exchange();
            if (pair.B.ReceiveBufferedBytes > 0)
            {
                Assert.True(pair.B.HoldsReceiveBuffer);
                // Sometimes a part, sometimes all of it (the buffer goes back), sometimes through Receive().
                switch (random.Next(3))
                {
                    case 0:
                        consumer.Room = random.Next(1, 5000);
                        pair.B.DeliverBuffered();
                        break;
                    case 1:
                        consumer.Room = int.MaxValue;
                        pair.B.DeliverBuffered();
                        drains++;
                        break;
                    default:
                        var chunk = new byte[random.Next(1, 40_000)];
                        int n = pair.B.Receive(chunk);
                        consumer.Data.AddRange(chunk.AsSpan(0, n).ToArray());
                        break;
                }
                if (pair.B.ReceiveBufferedBytes == 0) Assert.False(pair.B.HoldsReceiveBuffer);
            }
            consumer.Room = random.Next(2) == 0 ? 0 : random.Next(0, 3000);
            pair.Clock.AdvanceMs(50);
        }
        Assert.Equal(data.Length, consumer.Data.Count);
        Assert.Equal(data, consumer.Data.ToArray());
        Assert.True(pool.Takes > 20, $"{pool.Takes} takes, {drains} drains");
        Assert.Equal(pool.Takes, pool.Returns);
        Assert.Equal(0, pool.OutstandingBytes);
        Assert.False(pair.B.HoldsReceiveBuffer);
        Assert.True(pool.Allocations <= 1, $"{pool.Allocations} allocations for {pool.Takes} takes");
    }

    [Fact]
    public void AnEmptyPool_StillHonoursTheWholeWindow_NoAcceptedByteIsDropped()
    {
        // Exhaustion: a pool that keeps nothing, so every take finds it empty and must allocate (counted).
        var pool = new ReceiveBufferPool(maxRetainedBytes: 0);
        var pair = ConnectedPair.Create(config: Config(pool));
        var consumer = new RecordingConsumer { Room = 0 };
        pair.B.ReceiveConsumer = consumer;
        var data = Pattern(3 * 64 * 1024, 4);
        uint offered = pair.B.RcvWnd;
        var una = pair.A.SndUna;
        pair.A.Enqueue(new MemorySendBuffer(data));
        pair.Exchange();
        // The sender filled the window it was offered (up to sender SWS avoidance), the receiver kept and acknowledged
        // every byte of it, and the window closed by exactly that much.
        Assert.True(pair.B.ReceiveBufferedBytes > 60_000, $"{pair.B.ReceiveBufferedBytes}");
        Assert.Equal(pair.B.ReceiveBufferedBytes, pair.A.SndUna - una);
        Assert.Equal(offered, (uint)pair.B.ReceiveBufferedBytes + pair.B.RcvWnd);
        Assert.Equal(1, pool.Allocations);
        Assert.Equal(0ul, pair.B.Statistics.ReassemblyDrops);
        for (int i = 0; i < 200 && consumer.Data.Count < data.Length; i++)
        {
            consumer.Room = int.MaxValue;
            pair.B.DeliverBuffered();
            consumer.Room = 0;
            pair.Clock.AdvanceMs(300); // persist probes and window updates
            pair.Exchange();
        }
        consumer.Room = int.MaxValue;
        pair.B.DeliverBuffered();
        Assert.Equal(data, consumer.Data.ToArray());
        Assert.True(pool.Allocations >= 3, $"{pool.Allocations}");
        Assert.Equal(pool.Allocations, pool.Discards); // nothing kept, every buffer went to the garbage collector
        Assert.Equal(0, pool.OutstandingBuffers);
    }

    [Fact]
    public void TwoConnectionsOnAPoolThatKeepsOne_EachGetsItsOwnBuffer()
    {
        var pool = new ReceiveBufferPool(maxRetainedBytes: 64 * 1024);
        var one = ConnectedPair.Create(config: Config(pool));
        var two = ConnectedPair.Create(config: Config(pool));
        var a = new RecordingConsumer { Room = 0 };
        var b = new RecordingConsumer { Room = 0 };
        one.B.ReceiveConsumer = a;
        two.B.ReceiveConsumer = b;
        var d1 = Pattern(20_000, 5);
        var d2 = Pattern(20_000, 6);
        one.A.Enqueue(new MemorySendBuffer(d1));
        two.A.Enqueue(new MemorySendBuffer(d2));
        one.Exchange();
        two.Exchange();
        Assert.Equal(2, pool.OutstandingBuffers);
        Assert.Equal(2, pool.Allocations);
        a.Room = b.Room = int.MaxValue;
        one.B.DeliverBuffered();
        two.B.DeliverBuffered();
        Assert.Equal(d1, a.Data.ToArray());
        Assert.Equal(d2, b.Data.ToArray());
        Assert.Equal(1, pool.Discards); // one kept, one over the bound
        Assert.Equal(64 * 1024, pool.RetainedBytes);
    }

    [Fact]
    public void OutOfOrderBytes_LiveInPooledStorage_UntilTheHoleFills()
    {
        var pool = new ReceiveBufferPool();
        var pair = ConnectedPair.Create(config: Config(pool, sack: true));
        var consumer = new RecordingConsumer();
        pair.B.ReceiveConsumer = consumer;
        int mss = pair.A.EffectiveMss;
        var data = Pattern(4 * mss, 7);
        pair.A.Enqueue(new MemorySendBuffer(data));
        var collector = new SegmentCollector();
        pair.A.Dispatch(pair.Clock.Now, collector);
        Assert.Equal(4, collector.Segments.Count);
        // The first segment is late: the others are out of order.
        for (int i = 3; i >= 1; i--) Assert.True(pair.B.ProcessSegment(collector.Segments[i], pair.Clock.Now));
        Assert.Equal(1, pair.B.OutOfOrderRanges);
        Assert.Equal(0, pair.B.ReceiveBufferedBytes);
        Assert.True(pair.B.HoldsReceiveBuffer);
        // Nothing in order to read: reading or delivering must not give the storage (and the out-of-order bytes) back.
        Assert.Equal(0, pair.B.Receive(new byte[100]));
        Assert.Equal(0, pair.B.DeliverBuffered());
        Assert.True(pair.B.HoldsReceiveBuffer);
        Assert.Equal(1, pool.OutstandingBuffers);
        Assert.True(pair.B.ProcessSegment(collector.Segments[0], pair.Clock.Now));
        Assert.Equal(data, consumer.Data.ToArray());
        Assert.Equal(0, pair.B.OutOfOrderRanges);
        Assert.False(pair.B.HoldsReceiveBuffer);
        Assert.Equal(0, pool.OutstandingBuffers);
    }

    [Fact]
    public void ReleaseReceiveBuffer_GivesHeldStorageBack_ForAnOwnerThatIsDone()
    {
        var pool = new ReceiveBufferPool();
        var pair = ConnectedPair.Create(config: Config(pool));
        pair.A.Enqueue(new MemorySendBuffer(Pattern(5000, 8)));
        pair.Exchange(); // no consumer: the bytes stay buffered
        Assert.Equal(5000, pair.B.ReceiveBufferedBytes);
        Assert.Equal(1, pool.OutstandingBuffers);
        pair.B.ReleaseReceiveBuffer();
        Assert.False(pair.B.HoldsReceiveBuffer);
        Assert.Equal(0, pool.OutstandingBuffers);
        Assert.Equal(64 * 1024, pool.RetainedBytes);
    }

    [Fact]
    public void BufferedDataHandedOverAtImport_IsHeldInPooledStorage_AndGoesBackWhenRead()
    {
        var pool = new ReceiveBufferPool();
        var pair = ConnectedPair.Create(config: Config(pool));
        var data = Pattern(3000, 9);
        pair.A.Enqueue(new MemorySendBuffer(data));
        pair.Exchange();
        var b = pair.B;
        var buffered = new byte[b.ReceiveBufferedBytes];
        b.PeekReceived(0, buffered);
        var now = pair.Clock.Now;
        var moved = TcpMachine.FromOffloadState(pair.ConfigB, b.Addresses, b.ExportConstState(), b.ExportCachedState(),
            b.ExportDelegatedState(now), [], 0, buffered, now);
        b.ReleaseReceiveBuffer();
        Assert.True(moved.HoldsReceiveBuffer);
        Assert.Equal(1, pool.OutstandingBuffers);
        var read = new byte[5000];
        Assert.Equal(3000, moved.Receive(read));
        Assert.Equal(data, read.AsSpan(0, 3000).ToArray());
        Assert.False(moved.HoldsReceiveBuffer);
        Assert.Equal(0, pool.OutstandingBuffers);
        // An import without buffered data takes nothing.
        var empty = TcpMachine.FromOffloadState(pair.ConfigB, b.Addresses, moved.ExportConstState(), moved.ExportCachedState(),
            moved.ExportDelegatedState(now), [], 0, [], now);
        Assert.False(empty.HoldsReceiveBuffer);
    }
}
