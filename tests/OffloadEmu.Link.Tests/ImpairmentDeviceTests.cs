using OffloadEmu.Link.Decorators;

namespace OffloadEmu.Link.Tests;

public class ImpairmentDeviceTests
{
    private static readonly FramePool Pool = new(2048, 256);

    private static (ImpairmentDevice device, TestDevice inner, ManualTimeProvider time) Egress(string spec, ulong seed = 1)
    {
        var inner = new TestDevice();
        var time = new ManualTimeProvider();
        return (new ImpairmentDevice(inner, ImpairmentSpec.None, ImpairmentSpec.Parse(spec), seed, time), inner, time);
    }

    private static void Send(ILinkDevice device, byte[] frame)
    {
        var b = Pool.Rent();
        frame.CopyTo(b.Array, 0);
        b.Length = frame.Length;
        device.Send([b]);
        Pool.Return(b);
    }

    private static List<int> Ids(TestDevice inner) => inner.Sent.Select(f => TestFrames.Id(f)).ToList();

    [Fact]
    public void LossRateIsWithinStatisticalBounds()
    {
        var (device, inner, _) = Egress("loss 2%", seed: 42);
        var frame = TestFrames.IcmpEcho(1, 0);
        const int n = 100_000;
        for (int i = 0; i < n; i++) Send(device, frame);
        double lost = n - inner.Sent.Count;
        // 2% of 100,000: σ ≈ 44 frames, so ±300 is about ±7σ.
        Assert.InRange(lost / n, 0.017, 0.023);
        Assert.Equal((long)lost, device.Statistics.Drops(DropReason.Impairment));
    }

    [Fact]
    public void SameSeedGivesTheSameDecisionsAndAnotherSeedDoesNot()
    {
        List<byte[]> Run(ulong seed)
        {
            var (device, inner, time) = Egress("delay 1ms 1ms loss 5% duplicate 5% corrupt 5% reorder 20%", seed);
            for (int i = 0; i < 2000; i++)
            {
                Send(device, TestFrames.IcmpEcho(i, 16));
                time.Advance(TimeSpan.FromMicroseconds(300));
            }
            time.Advance(TimeSpan.FromSeconds(1));
            return inner.Sent;
        }
        var a = Run(7);
        var b = Run(7);
        var c = Run(8);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i], b[i]);
        Assert.False(a.Count == c.Count && a.Zip(c).All(p => p.First.AsSpan().SequenceEqual(p.Second)));
    }

    [Fact]
    public void ReorderReallyReordersWithoutLosingOrDuplicating()
    {
        var (device, inner, time) = Egress("delay 10ms reorder 25%");
        for (int i = 0; i < 200; i++)
        {
            Send(device, TestFrames.IcmpEcho(i));
            time.Advance(TimeSpan.FromMilliseconds(1));
        }
        time.Advance(TimeSpan.FromSeconds(1));
        var ids = Ids(inner);
        Assert.Equal(Enumerable.Range(0, 200), ids.Order());
        Assert.NotEqual(Enumerable.Range(0, 200), ids);
        Assert.Equal(0, device.HeldEgress);
    }

    [Fact]
    public void ReorderGapSendsEveryNthFrameAtOnce()
    {
        // netem: gap-1 frames are delayed, then a frame goes at once with the reorder chance (100% here).
        var (device, inner, time) = Egress("delay 10ms reorder 100% gap 5");
        for (int i = 0; i < 20; i++) Send(device, TestFrames.IcmpEcho(i));
        Assert.Equal([4, 9, 14, 19], Ids(inner));
        time.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(20, inner.Sent.Count);
    }

    [Fact]
    public void DuplicateProducesDuplicatesAtTheRate()
    {
        var (device, inner, _) = Egress("duplicate 10%", seed: 3);
        const int n = 20_000;
        for (int i = 0; i < n; i++) Send(device, TestFrames.IcmpEcho(i & 0xFFFF, 0));
        double extra = inner.Sent.Count - n;
        Assert.InRange(extra / n, 0.093, 0.107); // σ ≈ 0.2%
        // Each duplicate directly follows its original (no delay configured) and is byte-identical.
        int pairs = 0;
        for (int i = 1; i < inner.Sent.Count; i++) if (inner.Sent[i].AsSpan().SequenceEqual(inner.Sent[i - 1])) pairs++;
        Assert.Equal((int)extra, pairs);
    }

    [Fact]
    public void CorruptBreaksTheChecksumAndLeavesTheCallersBufferAlone()
    {
        var (device, inner, _) = Egress("corrupt 100%");
        var original = TestFrames.IcmpEcho(1, 40);
        Assert.True(TestFrames.IcmpChecksumsValid(original));
        var b = Pool.Rent();
        for (int i = 0; i < 500; i++)
        {
            original.CopyTo(b.Array, 0);
            b.Length = original.Length;
            device.Send([b]);
            Assert.Equal(original, b.Span.ToArray());
        }
        Pool.Return(b);
        Assert.Equal(500, inner.Sent.Count);
        Assert.All(inner.Sent, f =>
        {
            Assert.False(TestFrames.IcmpChecksumsValid(f));
            Assert.Equal(original.AsSpan(0, TestFrames.EthernetHeader).ToArray(), f[..TestFrames.EthernetHeader]);
            // Exactly one bit differs.
            int bits = 0;
            for (int i = 0; i < f.Length; i++) bits += System.Numerics.BitOperations.PopCount((uint)(f[i] ^ original[i]));
            Assert.Equal(1, bits);
        });

        var (clean, cleanInner, _) = Egress("corrupt 0% loss 0%");
        Send(clean, original);
        Assert.True(TestFrames.IcmpChecksumsValid(cleanInner.Sent[0]));
    }

    [Fact]
    public void DelayHoldsFramesForTheDelayPlusOrMinusJitter()
    {
        var (device, inner, time) = Egress("delay 10ms 2ms", seed: 5);
        for (int i = 0; i < 300; i++) Send(device, TestFrames.IcmpEcho(i));
        Assert.Empty(inner.Sent);
        var releasedAt = new int[300];
        int seen = 0;
        for (int us = 100; us <= 14_000; us += 100)
        {
            time.Advance(TimeSpan.FromMicroseconds(100));
            for (; seen < inner.Sent.Count; seen++) releasedAt[TestFrames.Id(inner.Sent[seen])] = us;
        }
        Assert.Equal(300, inner.Sent.Count);
        Assert.All(releasedAt, t => Assert.InRange(t, 8_000, 12_000));
        Assert.Contains(releasedAt, t => t < 9_500);
        Assert.Contains(releasedAt, t => t > 10_500);
    }

    [Fact]
    public void DelayWithoutJitterIsExactAndDrivenByTheTimer()
    {
        var (device, inner, time) = Egress("delay 10ms");
        Send(device, TestFrames.IcmpEcho(1));
        Assert.Equal(1, device.HeldEgress);
        time.Advance(TimeSpan.FromTicks(TimeSpan.FromMilliseconds(10).Ticks - 1));
        Assert.Empty(inner.Sent);
        time.Advance(TimeSpan.FromTicks(1));
        Assert.Single(inner.Sent);
    }

    [Fact]
    public void RateSpacesFramesBySizeOverRate()
    {
        // 1000-byte frames at 8 Mbit/s take 1 ms each.
        var (device, inner, time) = Egress("rate 8mbit");
        var frame = TestFrames.Udp(1, 1000 - 42);
        Assert.Equal(1000, frame.Length);
        for (int i = 0; i < 10; i++) Send(device, frame);
        Assert.Empty(inner.Sent);
        for (int ms = 1; ms <= 10; ms++)
        {
            time.Advance(TimeSpan.FromMicroseconds(999));
            Assert.Equal(ms - 1, inner.Sent.Count);
            time.Advance(TimeSpan.FromMicroseconds(1));
            Assert.Equal(ms, inner.Sent.Count);
        }
    }

    [Fact]
    public void IngressDelayHoldsReceivedFramesUntilDue()
    {
        var inner = new TestDevice();
        var time = new ManualTimeProvider();
        using var device = new ImpairmentDevice(inner, "delay 5ms", "", seed: 1, timeProvider: time);
        inner.Inbound.Enqueue(TestFrames.IcmpEcho(1, reply: true));
        inner.Inbound.Enqueue(TestFrames.IcmpEcho(2, reply: true));
        var frames = new[] { Pool.Rent(), Pool.Rent(), Pool.Rent() };
        Assert.Equal(0, device.Receive(frames, 0));
        Assert.Equal(2, device.HeldIngress);
        time.Advance(TimeSpan.FromMilliseconds(4));
        Assert.Equal(0, device.Receive(frames, 0));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, device.Receive(frames, 0));
        Assert.Equal(TestFrames.IcmpEcho(1, reply: true), frames[0].Span.ToArray());
        Assert.Equal(TestFrames.IcmpEcho(2, reply: true), frames[1].Span.ToArray());
        Assert.Equal(inner.InboundTimestampNs, frames[0].TimestampNs);
        foreach (var f in frames) Pool.Return(f);
    }

    [Fact]
    public void IngressReceiveWaitsForTheNextDueFrameWithTheRealClock()
    {
        var inner = new TestDevice();
        using var device = new ImpairmentDevice(inner, "delay 30ms", "", seed: 1);
        inner.Inbound.Enqueue(TestFrames.IcmpEcho(1, reply: true));
        var frames = new[] { Pool.Rent() };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(1, device.Receive(frames, 5_000));
        Assert.InRange(sw.ElapsedMilliseconds, 25, 2_000);
        sw.Restart();
        Assert.Equal(0, device.Receive(frames, 50));
        Assert.InRange(sw.ElapsedMilliseconds, 45, 2_000);
        Pool.Return(frames[0]);
    }

    [Fact]
    public void EgressTimerReleasesHeldFramesWithTheRealClock()
    {
        var inner = new TestDevice();
        using var device = new ImpairmentDevice(inner, "", "delay 20ms", seed: 1);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Send(device, TestFrames.IcmpEcho(1));
        lock (inner.Sent) Assert.Empty(inner.Sent);
        while (sw.ElapsedMilliseconds < 5_000)
        {
            lock (inner.Sent) if (inner.Sent.Count == 1) break;
            Thread.Sleep(1);
        }
        lock (inner.Sent) Assert.Single(inner.Sent);
        Assert.InRange(sw.ElapsedMilliseconds, 15, 5_000);
    }

    [Fact]
    public void IngressLossCountsImpairmentDrops()
    {
        var inner = new TestDevice();
        using var device = new ImpairmentDevice(inner, "loss 50%", "", seed: 9, timeProvider: new ManualTimeProvider());
        for (int i = 0; i < 1000; i++) inner.Inbound.Enqueue(TestFrames.IcmpEcho(i, reply: true));
        var frames = Enumerable.Range(0, 16).Select(_ => Pool.Rent()).ToArray();
        int received = 0;
        for (int i = 0; i < 200; i++) received += device.Receive(frames, 0);
        Assert.Equal(1000, received + device.Statistics.Drops(DropReason.Impairment));
        Assert.InRange(received, 400, 600);
        foreach (var f in frames) Pool.Return(f);
    }

    [Fact]
    public void NoImpairmentPassesStraightThroughAndDisposeDisposesInner()
    {
        var inner = new TestDevice();
        var device = new ImpairmentDevice(inner, ImpairmentSpec.None, ImpairmentSpec.None);
        Send(device, TestFrames.Udp(1));
        Assert.Single(inner.Sent);
        device.Dispose();
        Assert.True(inner.Disposed);
    }

    [Fact]
    public void DisposeDiscardsHeldFramesAndStopsTheTimer()
    {
        var (device, inner, time) = Egress("delay 10ms");
        Send(device, TestFrames.IcmpEcho(1));
        device.Dispose();
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(inner.Sent);
    }
}
