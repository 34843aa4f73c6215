using OffloadEmu.Tcp;
using OffloadEmu.Tcp.Congestion;
using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Tests;

/// <summary>ISN generation (RFC 6528), the instant clock and tick conversion, IPv6 checksums, the reassembler and
/// NewReno arithmetic in isolation.</summary>
public class MiscTests
{
    private static readonly TcpEndpointAddresses V4 = TcpEndpointAddresses.Ipv4(new Ipv4Address(1, 2, 3, 4), new Ipv4Address(5, 6, 7, 8));

    [Fact]
    public void Isn_IsKeyedByTheSecretAndTheFourTuple_AndAdvancesWithTheClock()
    {
        var a = new IsnGenerator(new byte[32]);
        var secret = new byte[32];
        secret[0] = 1;
        var b = new IsnGenerator(secret);
        var t = Instant.FromSeconds(10);
        Assert.Equal(a.Generate(V4, 1000, 80, t), a.Generate(V4, 1000, 80, t));
        Assert.NotEqual(a.Generate(V4, 1000, 80, t), b.Generate(V4, 1000, 80, t));
        Assert.NotEqual(a.Generate(V4, 1000, 80, t), a.Generate(V4, 1001, 80, t));
        Assert.NotEqual(a.Generate(V4, 1000, 80, t), a.Generate(V4.Reversed, 1000, 80, t));
        // M is a 4 µs timer (RFC 6528 §3).
        Assert.Equal(a.Generate(V4, 1000, 80, t) + 250_000u, a.Generate(V4, 1000, 80, t.AddMicroseconds(1_000_000)));
        Assert.Throws<ArgumentException>(() => new IsnGenerator(new byte[8]));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(100)]
    [InlineData(1000)]
    public void Instant_ConvertsToAndFromTicks(int ticksPerSecond)
    {
        var t = Instant.FromTicks(12345, ticksPerSecond);
        Assert.Equal(12345, t.ToTicks(ticksPerSecond));
        Assert.Equal(12345L * 1_000_000 / ticksPerSecond, t.Microseconds);
        Assert.Equal(12345, t.AddMicroseconds(1_000_000 / ticksPerSecond - 1).ToTicks(ticksPerSecond)); // floor
        Assert.Equal(Instant.MaxValue, Instant.MaxValue.AddMicroseconds(5));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), Instant.FromMilliseconds(2500) - Instant.FromSeconds(1));
    }

    [Fact]
    public void Config_RejectsUnsupportedTickRates()
        => Assert.Throws<ArgumentException>(() => TcpMachine.Connect(new TcpConfig { TicksPerSecond = 50 }, V4, 1, 2, Instant.Zero));

    [Fact]
    public void Ipv6_ConnectionTransfersDataWithIpv6Checksums()
    {
        var la = new Ipv6Address(0x2001_0db8_0000_0000, 1);
        var lb = new Ipv6Address(0x2001_0db8_0000_0000, 2);
        var config = new TcpConfig { IsnGenerator = new IsnGenerator(new byte[32]) };
        var a = TcpMachine.Connect(config, TcpEndpointAddresses.Ipv6(la, lb), 5000, 80, Instant.Zero);
        var b = TcpMachine.Listen(config, TcpEndpointAddresses.Ipv6(lb, la), 80);
        var consumer = new RecordingConsumer();
        b.ReceiveConsumer = consumer;
        a.Enqueue(new MemorySendBuffer("over IPv6"u8.ToArray()));
        var wire = new SegmentCollector();
        for (int i = 0; i < 10; i++)
        {
            wire.Segments.Clear();
            a.Dispatch(Instant.Zero, wire);
            foreach (var s in wire.Segments)
            {
                Assert.True(TcpSegment.TryCreate(s, out var seg) && seg.VerifyChecksum(la, lb));
                Assert.True(b.ProcessSegment(s, Instant.Zero));
            }
            wire.Segments.Clear();
            b.Dispatch(Instant.Zero, wire);
            foreach (var s in wire.Segments) Assert.True(a.ProcessSegment(s, Instant.Zero));
        }
        Assert.Equal("over IPv6", System.Text.Encoding.ASCII.GetString(consumer.Data.ToArray()));
        Assert.Equal(1220, new TcpConfig().Mss > 0 ? TcpMachine.Listen(config, TcpEndpointAddresses.Ipv6(lb, la), 1).RemoteMss : 0);
    }

    [Fact]
    public void Reassembler_MergesOverlapsAndAdvances()
    {
        var r = new Reassembler(3);
        Assert.True(r.TryAdd(10, 20));
        Assert.True(r.TryAdd(30, 40));
        Assert.True(r.TryAdd(50, 60));
        Assert.False(r.TryAdd(70, 80));      // a fourth island: refused
        Assert.True(r.TryAdd(15, 35));       // bridges the first two
        Assert.Equal(2, r.Count);
        Assert.Equal((10, 40), (r.GetStart(0), r.GetEnd(0)));
        Assert.Equal(30, r.Advance(10));     // 0..10 arrived: 10..40 becomes contiguous
        Assert.Equal(1, r.Count);
        Assert.Equal((10, 20), (r.GetStart(0), r.GetEnd(0))); // 50..60 relative to the new RcvNxt (40)
    }

    [Fact]
    public void Reassembler_RandomArrivals_MatchAReferenceBitmap()
    {
        var rng = new Random(42);
        for (int trial = 0; trial < 200; trial++)
        {
            var r = new Reassembler(8);
            var held = new bool[400];
            for (int k = 0; k < 30; k++)
            {
                int start = 1 + rng.Next(300);
                int end = start + 1 + rng.Next(60);
                if (r.TryAdd(start, end))
                    for (int i = start; i < end; i++) held[i] = true;
            }
            // Compare the ranges with the bitmap.
            var fromRanges = new bool[400];
            for (int i = 0; i < r.Count; i++)
                for (int j = r.GetStart(i); j < r.GetEnd(i); j++) fromRanges[j] = true;
            Assert.Equal(held, fromRanges);
            int contiguous = 1;
            while (held[contiguous]) contiguous++;
            Assert.Equal(contiguous - 1, r.Advance(1));
        }
    }

    [Fact]
    public void NewReno_WindowArithmetic()
    {
        var cc = new NewReno();
        cc.Reset(1000, 10_000, 20_000);
        cc.OnAck(1000, Instant.Zero, TimeSpan.Zero);
        Assert.Equal(11_000u, cc.CWnd);              // slow start
        cc.Reset(1000, 20_000, 10_000);
        for (int i = 0; i < 20; i++) cc.OnAck(1000, Instant.Zero, TimeSpan.Zero);
        Assert.Equal(21_000u, cc.CWnd);              // congestion avoidance: one SMSS per window
        cc.OnEnterRecovery(20_000, Instant.Zero);
        Assert.Equal(10_000u, cc.SsThresh);
        Assert.Equal(13_000u, cc.CWnd);              // ssthresh + 3·SMSS
        cc.OnDuplicateAckInRecovery();
        Assert.Equal(14_000u, cc.CWnd);
        cc.OnPartialAck(3000);
        Assert.Equal(12_000u, cc.CWnd);              // deflate by 3000, add back one SMSS
        cc.OnExitRecovery(4000);
        Assert.Equal(5000u, cc.CWnd);                // min(ssthresh, FlightSize + SMSS)
        cc.OnRetransmitTimeout(1000);
        Assert.Equal(2000u, cc.SsThresh);            // max(FlightSize/2, 2·SMSS)
        Assert.Equal(1000u, cc.CWnd);
    }
}
