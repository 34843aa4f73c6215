namespace OffloadEmu.Tcp.Tests;

/// <summary>The receive ring growing under a larger InitialRcvWnd (chimney UPDATE_RCV_WND): every byte keeps its offset
/// from the read position, in-order and out-of-order alike, across the wrap.</summary>
public class ReceiveRingGrowTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(13)]
    public void Grow_keeps_in_order_and_out_of_order_bytes_at_their_offsets_across_the_wrap(int readFirst)
    {
        var pool = new ReceiveBufferPool();
        var ring = new ReceiveRing(16, pool);
        var stream = Enumerable.Range(1, 64).Select(i => (byte)i).ToArray();
        // Move the read position so the data wraps: write and consume readFirst bytes.
        ring.WriteAt(0, stream.AsSpan(0, readFirst));
        ring.Commit(readFirst);
        Assert.Equal(readFirst, ring.Read(new byte[readFirst]));
        // 6 in-order bytes, a 3-byte hole, 4 out-of-order bytes after it.
        ring.WriteAt(0, stream.AsSpan(readFirst, 6));
        ring.Commit(6);
        ring.WriteAt(3, stream.AsSpan(readFirst + 9, 4));

        ring.Grow(40);
        Assert.Equal(40, ring.Capacity);
        Assert.Equal(6, ring.Count);
        // The hole is filled after the grow and the out-of-order bytes join the in-order data.
        ring.WriteAt(0, stream.AsSpan(readFirst + 6, 3));
        ring.Commit(3 + 4);
        // Room now past the old capacity.
        ring.WriteAt(0, stream.AsSpan(readFirst + 13, 20));
        ring.Commit(20);
        var all = new byte[33];
        Assert.Equal(33, ring.Read(all));
        Assert.Equal(stream.AsSpan(readFirst, 33).ToArray(), all);
        Assert.Equal(0, ring.Count);

        ring.Grow(20); // smaller: no change
        Assert.Equal(40, ring.Capacity);
        // The storage of the smaller ring went back to the pool at the grow; the larger one goes back at release.
        ring.Release();
        Assert.Equal(0, pool.OutstandingBuffers);
    }

    [Fact]
    public void Grow_without_storage_changes_only_the_capacity_and_the_next_write_takes_storage_of_the_new_size()
    {
        var pool = new ReceiveBufferPool();
        var ring = new ReceiveRing(16, pool);
        ring.Grow(1000);
        Assert.False(ring.HasBuffer);
        Assert.Equal(1000, ring.Capacity);
        Assert.Equal(1000, ring.Free);
        var data = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        ring.WriteAt(0, data);
        ring.Commit(data.Length);
        Assert.True(ring.HasBuffer);
        var back = new byte[1000];
        Assert.Equal(1000, ring.Read(back));
        Assert.Equal(data, back);
    }
}
