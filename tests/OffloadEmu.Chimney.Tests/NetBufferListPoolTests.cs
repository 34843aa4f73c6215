namespace OffloadEmu.Chimney.Tests;

public class NetBufferListPoolTests
{
    [Fact]
    public void Rent_and_return_allocate_nothing_after_warm_up()
    {
        var pool = new NetBufferListPool(capacity: 8, bufferCapacity: 2, segmentCapacity: 4);
        var data = new byte[3000];
        var rx = new byte[1500];
        var scratch = new byte[64];

        void Cycle()
        {
            // A send with two NBs over three segments, chained behind a receive post; then both come back.
            var send = pool.Rent();
            var nb = send.AddBuffer();
            nb.AddSegment(data.AsMemory(0, 1000));
            nb.AddSegment(data.AsMemory(1000, 500));
            send.AddBuffer().AddSegment(data.AsMemory(1500, 1500));
            var post = pool.Rent();
            post.AddBuffer().AddWritableSegment(rx);
            post.TcpReceiveNoPush = true;
            send.Next = post;
            NetBufferListChain.CopyTo(send, 990, scratch);
            post.CopyFrom(10, scratch);
            send[0].Advance(1200 > send[0].DataLength ? send[0].DataLength : 1200);
            send.Status = NdisStatus.Success;
            send.TcpOffloadBytesTransferred = 1500;
            foreach (var l in NetBufferListChain.Enumerate(send)) _ = l.DataLength;
            pool.Return(post);
            pool.Return(send);
        }

        for (int i = 0; i < 1000; i++) Cycle(); // warm-up: pool fills, tiering settles
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) Cycle();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(0, pool.RentedCount);
    }

    [Fact]
    public void Pool_is_bounded_and_reuses_lists()
    {
        var pool = new NetBufferListPool(2);
        var a = pool.Rent();
        var b = pool.Rent();
        Assert.Equal(2, pool.RentedCount);
        Assert.False(pool.TryRent(out _));
        Assert.Throws<InvalidOperationException>(() => pool.Rent());
        pool.Return(a);
        Assert.Same(a, pool.Rent());
        pool.Return(b);
    }

    [Fact]
    public void Returned_lists_come_back_reset()
    {
        var pool = new NetBufferListPool(1);
        var list = pool.Rent();
        list.AddBuffer().AddSegment(new byte[10]);
        list.Status = NdisStatus.UploadInProgress;
        list.ProtocolReserved = new object();
        list.Next = new NetBufferList();
        pool.Return(list);
        var again = pool.Rent();
        Assert.Same(list, again);
        Assert.Equal(0, again.BufferCount);
        Assert.Equal(NdisStatus.Success, again.Status);
        Assert.Null(again.ProtocolReserved);
        Assert.Null(again.Next);
    }

    [Fact]
    public void Double_and_foreign_returns_are_rejected()
    {
        var pool = new NetBufferListPool(2);
        var list = pool.Rent();
        pool.Return(list);
        Assert.Throws<InvalidOperationException>(() => pool.Return(list));
        Assert.Throws<ArgumentException>(() => pool.Return(new NetBufferList()));
        Assert.Throws<ArgumentException>(() => new NetBufferListPool(1).Return(pool.Rent()));
        Assert.Equal(1, pool.RentedCount);
    }

    [Fact]
    public void Concurrent_rent_and_return_never_hands_a_list_out_twice()
    {
        var pool = new NetBufferListPool(16);
        var inUse = new System.Collections.Concurrent.ConcurrentDictionary<NetBufferList, bool>();
        Parallel.For(0, 8, worker =>
        {
            for (int i = 0; i < 5000; i++)
            {
                if (!pool.TryRent(out var list)) continue;
                Assert.True(inUse.TryAdd(list, true));
                Assert.True(inUse.TryRemove(list, out _));
                pool.Return(list);
            }
        });
        Assert.Equal(0, pool.RentedCount);
    }
}
