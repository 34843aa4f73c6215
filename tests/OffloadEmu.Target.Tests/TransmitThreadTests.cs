using System.Buffers.Binary;
using OffloadEmu.Link;
using OffloadEmu.Link.Capture;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Target.Tests;

/// <summary>
/// The transmit ring and thread (<see cref="OffloadTargetOptions.TransmitThread"/>): order, a full ring, wrap-around,
/// buffers back to the pool on the producer's side, shutdown with frames still waiting, a device that fails under the
/// thread, and a capture that sees every frame once and in order.
/// </summary>
public sealed class TransmitThreadTests
{
    private static FrameBuffer Numbered(FramePool pool, int n)
    {
        var f = pool.Rent();
        f.Array.AsSpan(0, 60).Clear();
        BinaryPrimitives.WriteInt32BigEndian(f.Array.AsSpan(20), n);
        f.Length = 60;
        return f;
    }

    private static int NumberOf(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadInt32BigEndian(frame[20..]);

    [Fact]
    public void Ring_refuses_when_full_until_sent_frames_are_reclaimed_and_keeps_order_across_the_wrap()
    {
        var pool = new FramePool(128, 64);
        var ring = new TransmitRing(4);
        Assert.Equal(4, ring.Capacity);
        int next = 0, expected = 0;
        for (int round = 0; round < 10; round++)   // 10 × 3 frames through 4 slots: the indices wrap several times
        {
            while (ring.TryEnqueue(Numbered(pool, next), pool)) next++;
            Assert.Equal(4, ring.Waiting);   // full: nothing sent yet, nothing to reclaim
            var f = pool.Rent();
            Assert.False(ring.TryEnqueue(f, pool));
            pool.Return(f);

            // The consumer side: a contiguous run stops at the end of the array; the rest comes next.
            int sentThisRound = 0;
            while (sentThisRound < 3)
            {
                var run = ring.PeekPending(3 - sentThisRound);
                Assert.False(run.IsEmpty);
                foreach (var frame in run) Assert.Equal(expected++, NumberOf(frame.Span));
                ring.MarkSent(run.Length);
                sentThisRound += run.Length;
            }
            Assert.Equal(1, ring.Waiting);
            Assert.False(ring.IsDrained);
            Assert.Equal(3, ring.Reclaim(pool));   // the producer takes the three sent buffers back
            Assert.Equal(0, ring.Reclaim(pool));
        }
        // One frame still waits; at shutdown it is dropped and its buffer returned.
        Assert.Equal(1, ring.ReclaimAll(pool));
        Assert.True(ring.IsDrained);
        Assert.True(ring.PeekPending(8).IsEmpty);
    }

    [Fact]
    public void Thread_sends_every_frame_once_in_order_through_a_small_ring_without_growing_the_pool()
    {
        const int Frames = 20_000;
        MemoryLink.CreatePair(out var a, out var b, new MemoryLinkOptions { Capacity = Frames });
        using var _a = a;
        using var _b = b;
        var pool = new FramePool(128, 1024);
        pool.Preallocate(256);
        long before = pool.Allocated;
        var tx = new TransmitThread(a, pool, 16, null, "test-tx");
        tx.Start();
        var batch = new FrameBuffer[40];
        int n = 0;
        while (n < Frames)
        {
            int count = Math.Min(batch.Length, Frames - n);
            for (int i = 0; i < count; i++) batch[i] = Numbered(pool, n + i);
            tx.Hand(batch.AsSpan(0, count));   // 40 frames into 16 slots: waits for room every time
            n += count;
            tx.Reclaim();
        }
        tx.WaitIdle();
        Assert.True(tx.IsIdle);
        tx.Stop();

        Assert.Equal(Frames, tx.FramesHandedOver);
        Assert.True(tx.RingFullWaits > 0, "a 40-frame hand-over into 16 slots must have waited for room");
        Assert.Equal(before, pool.Allocated);   // the buffers came back to the pool; none had to be made
        Assert.Equal(Frames, (int)a.Statistics.FramesOut);
        var rx = new FrameBuffer[64];
        for (int i = 0; i < rx.Length; i++) rx[i] = new FramePool(2048, 64).Rent();
        int expected = 0, got;
        while ((got = b.Receive(rx, 0)) > 0)
            for (int i = 0; i < got; i++) Assert.Equal(expected++, NumberOf(rx[i].Span));
        Assert.Equal(Frames, expected);
    }

    [Fact]
    public void Stop_sends_the_frames_still_waiting_then_returns_every_buffer()
    {
        const int Frames = 1000;
        MemoryLink.CreatePair(out var a, out var b, new MemoryLinkOptions { Capacity = Frames });
        using var _a = a;
        using var _b = b;
        var pool = new FramePool(128, 2048);
        pool.Preallocate(Frames);
        long before = pool.Allocated;
        var tx = new TransmitThread(a, pool, 1024, null, "test-tx");
        var frames = new FrameBuffer[Frames];
        for (int i = 0; i < Frames; i++) frames[i] = Numbered(pool, i);
        tx.Hand(frames);   // before the thread even runs: all of them wait in the ring
        Assert.Equal(Frames, tx.Ring.Waiting);
        tx.Start();
        tx.Stop();         // at once: the thread still passes everything handed over to the device

        Assert.True(tx.Ring.IsDrained);
        Assert.Equal(Frames, (int)a.Statistics.FramesOut);
        var rx = new FrameBuffer[64];
        for (int i = 0; i < rx.Length; i++) rx[i] = new FramePool(2048, 64).Rent();
        int expected = 0, got;
        while ((got = b.Receive(rx, 0)) > 0)
            for (int i = 0; i < got; i++) Assert.Equal(expected++, NumberOf(rx[i].Span));
        Assert.Equal(Frames, expected);
        // Every buffer is back: renting all of them again makes none.
        var again = new List<FrameBuffer>();
        for (int i = 0; i < Frames; i++) again.Add(pool.Rent());
        Assert.Equal(before, pool.Allocated);
    }

    [Fact]
    public void A_device_that_fails_under_the_thread_loses_the_frames_but_never_stalls_the_producer()
    {
        MemoryLink.CreatePair(out var a, out var b, new MemoryLinkOptions { Capacity = 64 });
        using var _b = b;
        var pool = new FramePool(128, 512);
        pool.Preallocate(256);
        long before = pool.Allocated;
        var tx = new TransmitThread(a, pool, 16, null, "test-tx");
        tx.Start();
        a.Dispose();   // every Send now throws ObjectDisposedException (the device is gone)
        var batch = new FrameBuffer[10];
        for (int round = 0; round < 20; round++)   // 200 frames through 16 slots: only possible if failed sends free them
        {
            for (int i = 0; i < batch.Length; i++) batch[i] = Numbered(pool, round * 10 + i);
            tx.Hand(batch);
        }
        tx.WaitIdle();
        tx.Stop();
        Assert.Equal(200, tx.FramesHandedOver);
        Assert.Equal(0, b.QueuedFrames);
        Assert.Equal(before, pool.Allocated);
    }

    [Fact]
    public void A_capture_under_the_thread_records_every_frame_once_in_order()
    {
        const int Frames = 3000;
        string path = Path.Combine(Path.GetTempPath(), $"oe-txthread-{Environment.ProcessId}-{Guid.NewGuid():N}.pcapng");
        try
        {
            MemoryLink.CreatePair(out var a, out var b, new MemoryLinkOptions { Capacity = Frames });
            using var _b = b;
            var pool = new FramePool(128, 4096);
            using (var capture = new CaptureDevice(a, path))
            {
                var tx = new TransmitThread(capture, pool, 64, null, "test-tx");
                tx.Start();
                var batch = new FrameBuffer[7];
                for (int n = 0; n < Frames; n += batch.Length)
                {
                    int count = Math.Min(batch.Length, Frames - n);
                    for (int i = 0; i < count; i++) batch[i] = Numbered(pool, n + i);
                    tx.Hand(batch.AsSpan(0, count));
                }
                tx.Stop();
            }
            a.Dispose();
            int expected = 0;
            foreach (var frame in CaptureReader.Open(path).ReadAll())
            {
                Assert.Equal(CaptureDirection.Outbound, frame.Direction);
                Assert.Equal(60, frame.Data.Length);
                Assert.Equal(expected++, NumberOf(frame.Data.Span));
            }
            Assert.Equal(Frames, expected);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(-1, 512)]
    [InlineData(OffloadTargetOptions.MaxTransmitInlineFrames + 1, 512)]
    [InlineData(2, 8)]
    [InlineData(2, 65_537)]
    public void Options_refuse_bad_values(int inlineFrames, int ring)
    {
        var error = Assert.Single(new OffloadTargetOptions { TransmitInlineFrames = inlineFrames, TransmitRingCapacity = ring }.Validate());
        Assert.Contains("Transmit", error);
    }
}
