using OffloadEmu.Link.Capture;
using OffloadEmu.Link.Decorators;

namespace OffloadEmu.Link.Tests;

public class CaptureDeviceTests
{
    private static readonly FramePool Pool = new(2048, 256);

    private static FrameBuffer Buffer(byte[] bytes, long ts = 0)
    {
        var b = Pool.Rent();
        bytes.CopyTo(b.Array, 0);
        b.Length = bytes.Length;
        b.TimestampNs = ts;
        return b;
    }

    private static int ReceiveAll(ILinkDevice device, int max = 16)
    {
        var frames = new FrameBuffer[max];
        for (int i = 0; i < max; i++) frames[i] = Pool.Rent();
        int n = device.Receive(frames, 0);
        foreach (var f in frames) Pool.Return(f);
        return n;
    }

    private static List<CapturedFrame> ReadFile(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return CaptureReader.Open(fs).ReadAll().ToList();
    }

    [Fact]
    public void RecordsBothDirectionsWithTheInnerDeviceName()
    {
        var inner = new TestDevice { Name = "oe7" };
        inner.Inbound.Enqueue(TestFrames.IcmpEcho(1, reply: true));
        inner.Inbound.Enqueue(TestFrames.IcmpEcho(2, reply: true));
        var ms = new MemoryStream();
        var time = new ManualTimeProvider();
        using (var capture = new CaptureDevice(inner, ms, timeProvider: time))
        {
            Assert.Equal("oe7", capture.Name);
            var sent = Buffer(TestFrames.IcmpEcho(3), ts: 42);
            Assert.Equal(1, capture.Send([sent]));
            Assert.Equal(2, ReceiveAll(capture));
            var unstamped = Buffer(TestFrames.Udp(4));
            capture.Send([unstamped]);
        }
        Assert.True(inner.Disposed);
        Assert.Equal(2, inner.Sent.Count);
        var frames = new CaptureReader(ms.ToArray()).ReadAll().ToList();
        Assert.Equal([CaptureDirection.Outbound, CaptureDirection.Inbound, CaptureDirection.Inbound, CaptureDirection.Outbound], frames.Select(f => f.Direction));
        Assert.All(frames, f => Assert.Equal("oe7", f.InterfaceName));
        Assert.Equal(42, frames[0].TimestampNs);
        Assert.Equal(inner.InboundTimestampNs, frames[1].TimestampNs);
        // A frame without a timestamp is stamped from the clock.
        Assert.Equal((time.GetUtcNow().UtcTicks - DateTime.UnixEpoch.Ticks) * 100, frames[3].TimestampNs);
        Assert.Equal(TestFrames.IcmpEcho(2, reply: true), frames[2].Data.ToArray());
    }

    [Fact]
    public void QueuesOfOneLinkWriteOneFileFromSeveralThreads()
    {
        // Two queues of one link (a multi-queue TAP in the daemon): queue 0 under the capture, queue 1 under a view of
        // it; each sends and receives on a thread of its own at once, and every frame lands whole in the one file.
        const int PerThread = 2000;
        var q0 = new TestDevice { Name = "oe7", RecordSent = false };
        var q1 = new TestDevice { Name = "oe7", RecordSent = false };
        for (int i = 0; i < PerThread; i++)
        {
            q0.Inbound.Enqueue(TestFrames.Udp(i));
            q1.Inbound.Enqueue(TestFrames.IcmpEcho(i, reply: true));
        }
        var ms = new MemoryStream();
        var capture = new CaptureDevice(q0, ms, timeProvider: new ManualTimeProvider());
        var view = capture.AddQueue(q1);
        Assert.Equal("oe7", view.Name);
        Assert.Same(q1.Statistics, view.Statistics);
        void Run(ILinkDevice device, Func<int, byte[]> frame)
        {
            var pool = new FramePool(2048, 64);
            for (int i = 0; i < PerThread; i++)
            {
                var b = pool.Rent();
                var bytes = frame(i);
                bytes.CopyTo(b.Array, 0);
                b.Length = bytes.Length;
                device.Send([b]);
                pool.Return(b);
                var rx = new[] { pool.Rent() };
                Assert.Equal(1, device.Receive(rx, 0));
                pool.Return(rx[0]);
            }
        }
        var threads = new[]
        {
            new Thread(() => Run(capture, i => TestFrames.Udp(PerThread + i))),
            new Thread(() => Run(view, i => TestFrames.IcmpEcho(PerThread + i))),
        };
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        view.Dispose();
        Assert.True(q1.Disposed);
        Assert.False(q0.Disposed);
        capture.Dispose();
        Assert.True(q0.Disposed);
        var frames = new CaptureReader(ms.ToArray()).ReadAll().ToList();
        Assert.Equal(4 * PerThread, frames.Count);
        Assert.All(frames, f => Assert.Equal("oe7", f.InterfaceName));
        Assert.Equal(2 * PerThread, frames.Count(f => f.Direction == CaptureDirection.Inbound));
        // Every frame whole: each queue's frames, in its own order (UDP frames are 106 bytes, ICMP ones 74).
        List<byte[]> Of(CaptureDirection d, int length) => [.. frames.Where(f => f.Direction == d && f.Data.Length == length).Select(f => f.Data.ToArray())];
        int udp = TestFrames.Udp(0).Length, icmp = TestFrames.IcmpEcho(0).Length;
        Assert.NotEqual(udp, icmp);
        Assert.Equal(Enumerable.Range(PerThread, PerThread).Select(i => TestFrames.Udp(i)), Of(CaptureDirection.Outbound, udp));
        Assert.Equal(Enumerable.Range(PerThread, PerThread).Select(i => TestFrames.IcmpEcho(i)), Of(CaptureDirection.Outbound, icmp));
        Assert.Equal(Enumerable.Range(0, PerThread).Select(i => TestFrames.Udp(i)), Of(CaptureDirection.Inbound, udp));
        Assert.Equal(Enumerable.Range(0, PerThread).Select(i => TestFrames.IcmpEcho(i, reply: true)), Of(CaptureDirection.Inbound, icmp));
    }

    [Fact]
    public void ClassicPcapOptionWritesPcap()
    {
        var ms = new MemoryStream();
        using (var capture = new CaptureDevice(new TestDevice(), ms, new CaptureOptions { Format = CaptureFormat.Pcap }, new ManualTimeProvider()))
        {
            capture.Send([Buffer(TestFrames.Udp(1), 5)]);
        }
        var reader = new CaptureReader(ms.ToArray());
        Assert.Equal(CaptureFormat.Pcap, reader.Format);
        Assert.Equal(5, Assert.Single(reader.ReadAll()).TimestampNs);
    }

    [Fact]
    public void AnIdleCaptureIsFlushedByTheTimerWithinASecond()
    {
        using var dir = new TempDirectory();
        string path = dir.File("idle.pcapng");
        var time = new ManualTimeProvider();
        using var capture = new CaptureDevice(new TestDevice(), path, timeProvider: time);
        time.Advance(TimeSpan.FromMilliseconds(500));
        capture.Send([Buffer(TestFrames.IcmpEcho(1), 1)]);
        Assert.Equal(0, new FileInfo(path).Length); // buffered
        time.Advance(TimeSpan.FromMilliseconds(1499));
        Assert.Single(ReadFile(path));
    }

    [Fact]
    public void ABusyCaptureIsFlushedOnTheFirstWriteAfterTheInterval()
    {
        using var dir = new TempDirectory();
        string path = dir.File("busy.pcapng");
        // Timers do not fire: only the write path can flush here.
        var time = new ManualTimeProvider { FireTimers = false };
        using var capture = new CaptureDevice(new TestDevice(), path, new CaptureOptions { FlushInterval = TimeSpan.FromSeconds(1) }, time);
        for (int i = 0; i < 10; i++)
        {
            capture.Send([Buffer(TestFrames.IcmpEcho(i), i + 1)]);
            Assert.Equal(0, new FileInfo(path).Length);
            time.Advance(TimeSpan.FromMilliseconds(99));
        }
        time.Advance(TimeSpan.FromMilliseconds(10)); // 1000 ms since the file was opened
        capture.Send([Buffer(TestFrames.IcmpEcho(10), 11)]);
        Assert.Equal(11, ReadFile(path).Count);
    }

    [Fact]
    public void FlushesOnDispose()
    {
        using var dir = new TempDirectory();
        string path = dir.File("dispose.pcapng");
        var capture = new CaptureDevice(new TestDevice(), path, timeProvider: new ManualTimeProvider());
        capture.Send([Buffer(TestFrames.IcmpEcho(1), 1)]);
        Assert.Equal(0, new FileInfo(path).Length);
        capture.Dispose();
        Assert.Single(ReadFile(path));
    }

    [Fact]
    public void RotatesBySizeIntoNumberedFilesThatEachReadBack()
    {
        using var dir = new TempDirectory();
        string path = dir.File("cap.pcapng");
        const int limit = 2000;
        const int count = 60;
        using (var capture = new CaptureDevice(new TestDevice(), path, new CaptureOptions { MaxFileBytes = limit }, new ManualTimeProvider()))
        {
            for (int i = 0; i < count; i++) capture.Send([Buffer(TestFrames.IcmpEcho(i, 60), i + 1)]);
            Assert.NotEqual(path, capture.CurrentPath);
        }
        var files = Enumerable.Range(0, 100).Select(i => CaptureDevice.RotatedPath(path, i)).TakeWhile(File.Exists).ToList();
        Assert.True(files.Count >= 3, $"{files.Count} files");
        Assert.Equal(dir.File("cap.1.pcapng"), files[1]);
        Assert.Equal(files.Count, Directory.GetFiles(dir.Path).Length);
        var ids = new List<int>();
        foreach (var f in files)
        {
            Assert.InRange(new FileInfo(f).Length, 1, limit);
            var frames = ReadFile(f);
            Assert.NotEmpty(frames);
            ids.AddRange(frames.Select(x => TestFrames.Id(x.Data.Span)));
        }
        Assert.Equal(Enumerable.Range(0, count), ids);
    }

    [Fact]
    public void AnUnopenableFirstFileFailsTheConstructor()
    {
        using var dir = new TempDirectory();
        Assert.ThrowsAny<IOException>(() => new CaptureDevice(new TestDevice(), dir.File("missing/sub/cap.pcapng"), timeProvider: new ManualTimeProvider()));
    }

    [Fact]
    public void RotatedPathNaming()
    {
        Assert.Equal("/x/cap.pcapng", CaptureDevice.RotatedPath("/x/cap.pcapng", 0));
        Assert.Equal("/x/cap.2.pcapng", CaptureDevice.RotatedPath("/x/cap.pcapng", 2));
        Assert.Equal("/x/cap.1", CaptureDevice.RotatedPath("/x/cap", 1));
    }

    [Fact]
    public void AFailingStreamCountsCaptureFailedAndTrafficGoesOn()
    {
        var inner = new TestDevice();
        var stream = new ThrowingStream();
        using var capture = new CaptureDevice(inner, stream, new CaptureOptions { BufferSize = 1024 }, new ManualTimeProvider());
        capture.Send([Buffer(TestFrames.IcmpEcho(1), 1)]);
        Assert.Equal(0, capture.Statistics.Drops(DropReason.CaptureFailed));

        stream.Broken = true;
        capture.Flush(); // the buffered frame cannot be written
        Assert.Equal(1, capture.Statistics.Drops(DropReason.CaptureFailed));

        for (int i = 2; i <= 5; i++) Assert.Equal(1, capture.Send([Buffer(TestFrames.IcmpEcho(i, 1200), i)]));
        inner.Inbound.Enqueue(TestFrames.IcmpEcho(6, reply: true));
        Assert.Equal(1, ReceiveAll(capture));

        Assert.Equal(5, inner.Sent.Count);
        Assert.Equal(6, capture.Statistics.Drops(DropReason.CaptureFailed));
        Assert.Equal(0, capture.Statistics.Drops(DropReason.IoError));
    }

    [Fact]
    public void AStreamThatFailsMidFrameCountsCaptureFailed()
    {
        var inner = new TestDevice();
        var stream = new ThrowingStream { Broken = true };
        using var capture = new CaptureDevice(inner, stream, new CaptureOptions { BufferSize = 1024 }, new ManualTimeProvider());
        // 1400 bytes do not fit the 1 KiB buffer, so the write reaches the broken stream at once.
        capture.Send([Buffer(TestFrames.IcmpEcho(1, 1400), 1)]);
        Assert.Single(inner.Sent);
        Assert.Equal(1, capture.Statistics.Drops(DropReason.CaptureFailed));
    }

    [Fact]
    public void WritingFramesAllocatesNothingPerFrame()
    {
        var inner = new TestDevice { RecordSent = false };
        using var capture = new CaptureDevice(inner, Stream.Null, timeProvider: new ManualTimeProvider());
        var frame = Buffer(TestFrames.IcmpEcho(1, 100), 7);
        var batch = new[] { frame };
        var rx = new FrameBuffer[1];
        rx[0] = Pool.Rent();
        var incoming = TestFrames.IcmpEcho(2, 100, reply: true);
        for (int i = 0; i < 10_000; i++) inner.Inbound.Enqueue(incoming);

        for (int i = 0; i < 100; i++) { capture.Send(batch); capture.Receive(rx, 0); } // warm-up

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 9_900; i++)
        {
            capture.Send(batch);
            capture.Receive(rx, 0);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1024, $"{allocated} bytes allocated for 19,800 frames");
    }
}
