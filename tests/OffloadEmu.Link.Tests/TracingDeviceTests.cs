using Microsoft.Extensions.Logging;
using OffloadEmu.Link.Decorators;

namespace OffloadEmu.Link.Tests;

public class TracingDeviceTests
{
    private static readonly FramePool Pool = new(2048, 64);

    private sealed class CountingFormatter : IFrameFormatter
    {
        public int Calls;
        public string Format(ReadOnlySpan<byte> frame) { Calls++; return $"frame of {frame.Length}"; }
    }

    private static void Exercise(ILinkDevice device, TestDevice inner)
    {
        var tx = Pool.Rent();
        TestFrames.Udp(1).CopyTo(tx.Array, 0);
        tx.Length = TestFrames.Udp(1).Length;
        device.Send([tx, tx]);
        inner.Inbound.Enqueue(TestFrames.IcmpEcho(2, reply: true));
        inner.Inbound.Enqueue(TestFrames.IcmpEcho(3, reply: true));
        inner.Inbound.Enqueue(TestFrames.IcmpEcho(4, reply: true));
        var rx = new[] { Pool.Rent(), Pool.Rent(), Pool.Rent() };
        Assert.Equal(3, device.Receive(rx, 0));
        Pool.Return(tx);
        foreach (var b in rx) Pool.Return(b);
    }

    [Fact]
    public void NothingIsFormattedWhenTheLevelIsOff()
    {
        var inner = new TestDevice();
        var logger = new TestLogger { MinimumLevel = LogLevel.Information };
        var formatter = new CountingFormatter();
        using var device = new TracingDevice(inner, logger, formatter, LogLevel.Debug);
        Exercise(device, inner);
        Assert.Equal(0, formatter.Calls);
        Assert.Empty(logger.Entries);
        Assert.Equal(2, inner.Sent.Count);
    }

    [Fact]
    public void OneLinePerFrameWhenOn()
    {
        var inner = new TestDevice { Name = "oe3" };
        var logger = new TestLogger { MinimumLevel = LogLevel.Trace };
        var formatter = new CountingFormatter();
        using var device = new TracingDevice(inner, logger, formatter);
        Exercise(device, inner);
        Assert.Equal(5, formatter.Calls);
        Assert.Equal(5, logger.Entries.Count);
        Assert.All(logger.Entries, e => Assert.Equal(LogLevel.Trace, e.level));
        Assert.Equal([1101, 1101, 1100, 1100, 1100], logger.Entries.Select(e => e.id.Id));
        Assert.Equal($"oe3 > frame of {TestFrames.Udp(1).Length}", logger.Entries[0].message);
        Assert.StartsWith("oe3 < frame of", logger.Entries[2].message);
    }

    [Fact]
    public void TracingWhenOffAllocatesNothing()
    {
        var inner = new TestDevice { RecordSent = false };
        var logger = new TestLogger { MinimumLevel = LogLevel.Information };
        using var device = new TracingDevice(inner, logger);
        var tx = Pool.Rent();
        tx.Length = 60;
        var batch = new[] { tx };
        device.Send(batch);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) device.Send(batch);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 512);
        Pool.Return(tx);
    }

    [Fact]
    public void DefaultFormatterShowsLengthAndLeadingBytes()
    {
        var text = HexFrameFormatter.Default.Format(TestFrames.IcmpEcho(1, 40));
        Assert.StartsWith("82 B: 02 00 00 00 00 02 02 00 00 00 00 01 08 00 45", text);
        Assert.EndsWith(" ...", text);
        Assert.Equal("3 B: 01 02 03", new HexFrameFormatter(8).Format([1, 2, 3]));
    }
}
