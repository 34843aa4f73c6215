using OffloadEmu.Tcp;

namespace OffloadEmu.Tcp.Tests;

/// <summary>Two real machines: simultaneous open and close, half-close in both directions.</summary>
public class PairTests
{
    [Fact]
    public void SimultaneousClose_BothSidesGoThroughClosingToTimeWait()
    {
        var pair = ConnectedPair.Create();
        pair.A.Close();
        pair.B.Close();
        Assert.Equal(TcpState.FinWait1, pair.A.State);
        Assert.Equal(TcpState.FinWait1, pair.B.State);
        pair.Exchange();
        Assert.Equal(TcpState.TimeWait, pair.A.State);
        Assert.Equal(TcpState.TimeWait, pair.B.State);
        Assert.True(pair.A.TakeEvents().HasFlag(TcpEvents.PeerClosed | TcpEvents.TimeWaitEntered));
    }

    [Fact]
    public void HalfClose_ClientClosesFirst_ServerKeepsSending()
    {
        var pair = ConnectedPair.Create();
        var consumer = new RecordingConsumer();
        pair.A.ReceiveConsumer = consumer;
        pair.A.Close();
        pair.Exchange();
        Assert.Equal(TcpState.FinWait2, pair.A.State);
        Assert.Equal(TcpState.CloseWait, pair.B.State);
        Assert.True(pair.B.Enqueue(new MemorySendBuffer(new byte[100_000])));
        for (int i = 0; i < 50 && consumer.Data.Count < 100_000; i++)
        {
            pair.Clock.AdvanceMs(200);
            pair.Exchange();
        }
        Assert.Equal(100_000, consumer.Data.Count);
        pair.B.Close();
        pair.Exchange();
        Assert.Equal(TcpState.TimeWait, pair.A.State);
        Assert.Equal(TcpState.Closed, pair.B.State);
    }

    [Fact]
    public void SimultaneousOpen_BothSidesEstablish()
    {
        var config = new TcpConfig { IsnGenerator = new IsnGenerator(new byte[32]) };
        var ipA = new Wire.Ipv4Address(10, 4, 0, 1);
        var ipB = new Wire.Ipv4Address(10, 4, 0, 2);
        var a = TcpMachine.Connect(config, TcpEndpointAddresses.Ipv4(ipA, ipB), 1000, 2000, Instant.Zero);
        var b = TcpMachine.Connect(config, TcpEndpointAddresses.Ipv4(ipB, ipA), 2000, 1000, Instant.Zero);
        var wireA = new SegmentCollector();
        var wireB = new SegmentCollector();
        for (int round = 0; round < 5; round++)
        {
            wireA.Segments.Clear();
            wireB.Segments.Clear();
            a.Dispatch(Instant.Zero, wireA);
            b.Dispatch(Instant.Zero, wireB);
            foreach (var s in wireA.Segments) b.ProcessSegment(s, Instant.Zero);
            foreach (var s in wireB.Segments) a.ProcessSegment(s, Instant.Zero);
        }
        Assert.Equal(TcpState.Established, a.State);
        Assert.Equal(TcpState.Established, b.State);
        Assert.Equal(b.Iss + 1, a.RcvNxt);
        Assert.Equal(a.Iss + 1, b.RcvNxt);
    }
}
