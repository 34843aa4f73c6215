using OffloadEmu.Link.Capture;
using OffloadEmu.Link.Decorators;

namespace OffloadEmu.Link.Tests;

/// <summary>A second capture interface fed by a <see cref="CaptureRecordQueue"/> (the daemon's control messages).</summary>
public class CaptureRecordQueueTests
{
    private static readonly FramePool Pool = new(2048, 64);

    private static FrameBuffer Buffer(byte[] bytes, long ts)
    {
        var b = Pool.Rent();
        bytes.CopyTo(b.Array, 0);
        b.Length = bytes.Length;
        b.TimestampNs = ts;
        return b;
    }

    private static byte[] Record(int id, int length) => Enumerable.Range(0, length).Select(i => (byte)(id + i)).ToArray();

    [Fact]
    public void Records_go_to_their_own_interface_in_time_order_with_the_frames_cut_at_the_snap_length()
    {
        var ms = new MemoryStream();
        var queue = new CaptureRecordQueue("control", 252, capacityBytes: 64 * 1024, snapLength: 100);
        var sent = new List<FrameBuffer>();
        using (var capture = new CaptureDevice(new TestDevice(), ms, timeProvider: new ManualTimeProvider()))
        {
            capture.AddRecordQueue(queue);
            Assert.True(queue.TryEnqueue(10, CaptureDirection.Inbound, [1, 2, 3], Record(1, 20), 23));
            var f1 = Buffer(TestFrames.Udp(1), 20);
            capture.Send([f1]);
            Assert.True(queue.TryEnqueue(30, CaptureDirection.Outbound, [9], Record(2, 300), 301));
            Assert.True(queue.TryEnqueue(31, CaptureDirection.Inbound, [], Record(3, 5), 5000)); // cut before it was queued
            var f2 = Buffer(TestFrames.Udp(2), 40);
            capture.Send([f2]);
            Assert.True(queue.TryEnqueue(50, CaptureDirection.Inbound, [], Record(4, 8), 8)); // written at close
            sent.Add(f1);
            sent.Add(f2);
        }
        foreach (var f in sent) Pool.Return(f);

        var reader = new CaptureReader(ms.ToArray());
        var frames = reader.ReadAll().ToList();
        Assert.Equal([10L, 20, 30, 31, 40, 50], frames.Select(f => f.TimestampNs));
        Assert.Equal(["control", "test0", "control", "control", "test0", "control"], frames.Select(f => f.InterfaceName));
        Assert.Equal(252, frames[0].Interface.LinkType);
        Assert.Equal(1, frames[1].Interface.LinkType);
        Assert.Equal([1, 2, 3, .. Record(1, 20)], frames[0].Data.ToArray());
        Assert.Equal(CaptureDirection.Outbound, frames[2].Direction);
        Assert.Equal(100, frames[2].Data.Length);
        Assert.Equal(301, frames[2].OriginalLength);
        Assert.Equal([9, .. Record(2, 99)], frames[2].Data.ToArray());
        Assert.Equal(5000, frames[3].OriginalLength);
        Assert.Equal(4, queue.Written);
        Assert.Equal(0, queue.Dropped);
    }

    [Fact]
    public void A_full_queue_drops_and_counts_instead_of_growing()
    {
        var queue = new CaptureRecordQueue("control", 252, capacityBytes: 2 * 1024, snapLength: 100);
        int accepted = 0;
        for (int i = 0; i < 100; i++)
            if (queue.TryEnqueue(i, CaptureDirection.Inbound, [], Record(i, 100), 100)) accepted++;
        // Half the capacity fills (the other half is the one being written out): 1024 / (20 + 100 → 120) = 8 records.
        Assert.Equal(8, accepted);
        Assert.Equal(92, queue.Dropped);
        Assert.Equal(8, queue.Enqueued);

        var ms = new MemoryStream();
        using (var capture = new CaptureDevice(new TestDevice(), ms, timeProvider: new ManualTimeProvider()))
        {
            capture.AddRecordQueue(queue);
            capture.Flush();
            // Drained: room again.
            Assert.True(queue.TryEnqueue(200, CaptureDirection.Inbound, [], Record(1, 100), 100));
        }
        Assert.Equal(9, new CaptureReader(ms.ToArray()).ReadAll().Count());
        Assert.Equal(9, queue.Written);
    }

    [Fact]
    public void Concurrent_producers_lose_nothing_that_was_accepted()
    {
        var ms = new MemoryStream();
        var queue = new CaptureRecordQueue("control", 252, capacityBytes: 1024 * 1024, snapLength: 64);
        long accepted = 0;
        using (var capture = new CaptureDevice(new TestDevice(), ms, timeProvider: new ManualTimeProvider()))
        {
            capture.AddRecordQueue(queue);
            var producers = Enumerable.Range(0, 4).Select(p => Task.Run(() =>
            {
                for (int i = 0; i < 5000; i++)
                    if (queue.TryEnqueue(i + 1, CaptureDirection.Inbound, [(byte)p], Record(i, 40), 41)) Interlocked.Increment(ref accepted);
            })).ToArray();
            while (!Task.WhenAll(producers).IsCompleted) capture.Flush();
        }
        var records = new CaptureReader(ms.ToArray()).ReadAll().ToList();
        Assert.Equal(accepted, records.Count);
        Assert.Equal(20_000, accepted + queue.Dropped);
        // Per producer, its records are in its own order.
        for (byte p = 0; p < 4; p++)
        {
            var mine = records.Where(r => r.Data.Span[0] == p).Select(r => r.TimestampNs).ToList();
            Assert.Equal(mine.Order().ToList(), mine);
        }
    }

    [Fact]
    public void Rotation_declares_the_record_interface_in_every_file()
    {
        using var dir = new TempDirectory();
        string path = dir.File("cap.pcapng");
        var queue = new CaptureRecordQueue("control", 252, capacityBytes: 64 * 1024, snapLength: 200);
        var time = new ManualTimeProvider();
        using (var capture = new CaptureDevice(new TestDevice(), path, new CaptureOptions { MaxFileBytes = 2000 }, time))
        {
            capture.AddRecordQueue(queue);
            for (int i = 0; i < 30; i++)
            {
                queue.TryEnqueue(1000 + i * 2, CaptureDirection.Inbound, [], Record(i, 150), 150);
                var f = Buffer(TestFrames.Udp(i), 1001 + i * 2);
                capture.Send([f]);
                Pool.Return(f);
            }
        }
        var files = Enumerable.Range(0, 100).Select(i => CaptureDevice.RotatedPath(path, i)).TakeWhile(File.Exists).ToList();
        Assert.True(files.Count > 3, $"{files.Count} files");
        var all = new List<CapturedFrame>();
        foreach (var file in files)
        {
            var frames = new CaptureReader(File.ReadAllBytes(file)).ReadAll().ToList();
            Assert.All(frames.Where(f => f.InterfaceName == "control"), f => Assert.Equal(252, f.Interface.LinkType));
            all.AddRange(frames);
        }
        Assert.Equal(60, all.Count);
        Assert.Equal(Enumerable.Range(0, 60).Select(i => 1000L + i), all.Select(f => f.TimestampNs));
    }

    [Fact]
    public void The_record_interface_keeps_its_own_snap_length_when_frames_are_cut_shorter()
    {
        var ms = new MemoryStream();
        var queue = new CaptureRecordQueue("control", 252, capacityBytes: 64 * 1024, snapLength: 300);
        using (var capture = new CaptureDevice(new TestDevice(), ms, new CaptureOptions { SnapLength = 64 }, new ManualTimeProvider()))
        {
            capture.AddRecordQueue(queue);
            queue.TryEnqueue(1, CaptureDirection.Inbound, [], Record(1, 250), 250);
            var f = Buffer(TestFrames.Udp(1, payloadLength: 200), 2);
            capture.Send([f]);
            Pool.Return(f);
        }
        var reader = new CaptureReader(ms.ToArray());
        var frames = reader.ReadAll().ToList();
        Assert.Equal(250, frames[0].Data.Length);
        Assert.Equal(64, frames[1].Data.Length);
        Assert.Equal([64, 300], reader.Interfaces.Select(i => i.SnapLength));
    }

    [Fact]
    public void A_classic_pcap_capture_refuses_a_record_interface()
    {
        using var capture = new CaptureDevice(new TestDevice(), new MemoryStream(), new CaptureOptions { Format = CaptureFormat.Pcap }, new ManualTimeProvider());
        Assert.False(capture.SupportsRecordInterfaces);
        Assert.Throws<NotSupportedException>(() => capture.AddRecordQueue(new CaptureRecordQueue("control", 252)));
    }
}
