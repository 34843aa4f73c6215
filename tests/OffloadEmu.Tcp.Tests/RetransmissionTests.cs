using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>RFC 6298 RTO, Karn's rule, backoff, retransmission limits; RFC 5681/6582 fast retransmit and NewReno;
/// RFC 3042 limited transmit.</summary>
public class RetransmissionTests
{
    private static TcpConfig WithRto(uint maxRt = 0, int maxRetransmissions = 5, bool nagle = true)
        => Config(c => new TcpConfig
        {
            Timestamps = false,
            WindowScaling = false,
            ReceiveBufferSize = BufferSize,
            MinRto = TimeSpan.FromMilliseconds(200),
            MaxRto = TimeSpan.FromSeconds(60),
            MaxRT = maxRt,
            MaxRetransmissions = maxRetransmissions,
            Nagle = nagle,
            IsnGenerator = c.IsnGenerator,
        });

    private static TcpRepr PeerAck(int ackOffset, ushort window = 4096)
        => SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 + ackOffset, Window = window };

    [Fact]
    public void Rtt_FirstSample_SetsSrttAndRttvar()
    {
        var h = SynSent(WithRto());
        h.Advance(100);
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, AckNumber = LocalSeq + 1, Options = new TcpOptions { MaxSegmentSize = 1460 } });
        Assert.Equal(TimeSpan.FromMilliseconds(100), h.M.SRtt);
        Assert.Equal(TimeSpan.FromMilliseconds(50), h.M.RttVar);
        Assert.Equal(TimeSpan.FromMilliseconds(300), h.M.Rto); // 100 + 4·50
    }

    [Fact]
    public void Rto_RetransmitsTheFirstUnackedSegment_WithBackoffUpToTheCap()
    {
        // Default floor of 1 s (the handshake's zero RTT sample leaves the RTO at the floor).
        var h = Established(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, MaxRT = uint.MaxValue, IsnGenerator = c.IsnGenerator }));
        h.Enqueue("abc");
        h.Recv();
        var retransmission = RecvTemplate with { Flags = TcpFlags.Psh, SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1, PayloadLength = 3 };
        long expected = 1000;
        for (int i = 0; i < 9; i++)
        {
            h.Advance(expected - 1);
            h.ExpectNothing();
            h.Advance(1);
            h.Expect(retransmission);
            expected = Math.Min(expected * 2, 60_000);
        }
        Assert.Equal(TimeSpan.FromSeconds(60), h.M.Rto);
        Assert.Equal(9ul, h.M.Statistics.RetransmittedSegments);
        Assert.Equal(TcpEvents.ReachabilityInDoubt, h.M.TakeEvents()); // R1 reported, R2 never (MaxRT unlimited)
    }

    [Fact]
    public void Rto_CollapsesTheCongestionWindow()
    {
        var h = Established(WithRto());
        h.Send(PeerAck(0, window: 60000));
        h.Enqueue(new byte[1460 * 3]);
        Assert.Equal(3, h.Recv().Count);
        h.Advance(200);
        var again = h.Recv();
        Assert.Single(again);
        Assert.Equal(1460, again[0].Payload.Length);
        Assert.Equal(1460u, h.M.CWnd);
        Assert.Equal(2920u, h.M.SsThresh); // max(FlightSize/2, 2·SMSS) = max(2190, 2920)
    }

    [Fact]
    public void Karn_NoRttSampleFromARetransmittedSegment()
    {
        var h = Established();
        h.Enqueue("abc");
        h.Recv();
        h.Advance(1000);
        h.Recv();
        h.Advance(50);
        h.Send(PeerAck(3));
        // A 50 ms sample would bring the RTO back to the 1 s floor.
        Assert.Equal(TimeSpan.FromSeconds(2), h.M.Rto); // backed-off value kept until a valid sample
    }

    [Fact]
    public void RetransmissionLimit_ByCount_IsReported()
    {
        var h = Established(WithRto(maxRetransmissions: 3));
        h.Enqueue("abc");
        h.Recv();
        long rto = 1000;
        for (int i = 0; i < 3; i++)
        {
            h.Advance(rto);
            Assert.Single(h.Recv());
            rto *= 2;
        }
        h.Advance(rto);
        h.ExpectNothing();
        Assert.True(h.M.TakeEvents().HasFlag(TcpEvents.RetransmitTimeout));
        Assert.Equal(TcpState.Established, h.M.State); // the owner decides
        Assert.Equal(Instant.MaxValue, h.M.PollAt());
    }

    [Fact]
    public void RetransmissionLimit_IsExportedAsAnExpiredTimer_AndTheNextOwnerTimesOutAtOnce()
    {
        // After R2 the machine reports RetransmitTimeout and stops its timer. The state handed to whoever continues the
        // connection (the host after Retrieve(TimeoutExpiration), chimney spec §6.8) says the timer expired (0), not
        // "off" (-1), so the next owner applies the same limit at once instead of waiting for an ACK forever.
        var config = WithRto(maxRetransmissions: 2);
        var h = Established(config);
        h.Enqueue("abc");
        h.Recv();
        long rto = 1000;
        for (int i = 0; i < 2; i++)
        {
            h.Advance(rto);
            Assert.Single(h.Recv());
            rto *= 2;
        }
        h.Advance(rto);
        h.ExpectNothing();
        Assert.True(h.M.TakeEvents().HasFlag(TcpEvents.RetransmitTimeout));
        var d = h.M.ExportDelegatedState(h.Clock.Now);
        Assert.Equal(0, d.Retransmit.TimeoutDelta);
        Assert.Equal(2, d.Retransmit.Count);

        var next = TcpMachine.FromOffloadState(config, Addresses, h.M.ExportConstState(), h.M.ExportCachedState(), d,
            new ITcpSendBuffer[] { new MemorySendBuffer("abc"u8.ToArray()) }, 0, default, h.Clock.Now);
        Assert.True(next.PollAt() <= h.Clock.Now);
        var h2 = new Harness(next, h.Clock);
        Assert.Empty(h2.Recv());   // nothing resent: the limit is already reached
        Assert.True(next.TakeEvents().HasFlag(TcpEvents.RetransmitTimeout));
    }

    [Fact]
    public void ThresholdR1_RaisesReachabilityInDoubtOnce()
    {
        var h = Established(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, DoubtReachabilityRetransmissions = 2, IsnGenerator = c.IsnGenerator }));
        h.Enqueue("abc");
        h.Recv();
        h.Advance(1000);
        h.Recv();
        Assert.Equal(TcpEvents.None, h.M.TakeEvents());
        h.Advance(2000);
        h.Recv();
        Assert.Equal(TcpEvents.ReachabilityInDoubt, h.M.TakeEvents());
        h.Advance(4000);
        h.Recv();
        Assert.Equal(TcpEvents.None, h.M.TakeEvents());
    }

    [Fact]
    public void RetransmissionLimit_ByTime_IsReported()
    {
        // MaxRT = 2500 ticks (2.5 s at 1000 ticks/s) from the first retransmission.
        var h = Established(WithRto(maxRt: 2500));
        h.Enqueue("abc");
        h.Recv();
        h.Advance(1000);
        Assert.Single(h.Recv()); // t = 1 s, first retransmission
        h.Advance(2000);
        Assert.Single(h.Recv()); // t = 3 s (2 s after the first)
        Assert.Equal(2000u, h.M.TotalRTTicks(h.Now));
        h.Advance(4000);
        h.ExpectNothing();       // t = 7 s: 6 s ≥ 2.5 s
        Assert.True(h.M.TakeEvents().HasFlag(TcpEvents.RetransmitTimeout));
    }

    [Fact]
    public void NewAck_RestartsTheTimer_AndStopsItWhenAllIsAcked()
    {
        var h = Established(WithRto(nagle: false));
        h.Enqueue("abc");
        h.Recv();
        h.Advance(500);
        h.Enqueue("def");
        h.Recv();
        h.Advance(100);
        h.Send(PeerAck(3));
        Assert.Equal(h.Now + h.M.Rto, h.M.PollAt());
        h.Send(PeerAck(6));
        Assert.Equal(Instant.MaxValue, h.M.PollAt());
    }

    [Fact]
    public void ThreeDuplicateAcks_TriggerFastRetransmit_AndNewRenoRecovery()
    {
        var h = Established(WithRto());
        h.Send(PeerAck(0, window: 60000));
        h.Enqueue(new byte[1460 * 8]);
        Assert.Equal(8, h.Recv().Count); // IW10 allows all eight
        // Segment 1 lost: the peer acks nothing new three times.
        h.Send(PeerAck(0, 60000));
        Assert.Equal(1, h.M.DupAckCount);
        h.Send(PeerAck(0, 60000));
        h.Send(PeerAck(0, 60000));
        var fast = h.Recv();
        Assert.Single(fast);
        Assert.Equal(LocalSeq + 1, fast[0].Seq);
        Assert.True(h.M.InRecovery);
        Assert.Equal(1ul, h.M.Statistics.FastRetransmits);
        Assert.Equal(1460u * 8 / 2, h.M.SsThresh);
        // A partial ACK (segments 1–2 but not 3) retransmits segment 3 at once (RFC 6582 §3.2 step 5).
        h.Send(PeerAck(1460 * 2, 60000));
        var partial = h.Recv();
        Assert.Equal(LocalSeq + 1 + 2920, partial[0].Seq);
        Assert.True(h.M.InRecovery);
        // The full ACK ends recovery with cwnd = min(ssthresh, FlightSize + SMSS).
        h.Send(PeerAck(1460 * 8, 60000));
        Assert.False(h.M.InRecovery);
        Assert.Equal(1460u, h.M.CWnd); // nothing in flight: FlightSize + SMSS
    }

    [Fact]
    public void LimitedTransmit_SendsNewDataOnTheFirstTwoDuplicateAcks()
    {
        var h = Established(WithRto());
        h.Send(PeerAck(0, window: 60000));
        h.Enqueue(new byte[1460 * 12]);
        Assert.Equal(10, h.Recv().Count); // cwnd = IW = 14600
        h.Send(PeerAck(0, 60000));
        var first = h.Recv();
        Assert.Single(first);
        Assert.Equal(LocalSeq + 1 + 14600, first[0].Seq);
        h.Send(PeerAck(0, 60000));
        Assert.Single(h.Recv());
        Assert.Equal(14600u, h.M.CWnd); // RFC 3042: cwnd itself unchanged
    }

    [Fact]
    public void SlowStart_GrowsByOneSegmentPerAck_ThenCongestionAvoidanceByOnePerWindow()
    {
        var h = Established(WithRto());
        h.Send(PeerAck(0, window: 60000));
        h.Enqueue(new byte[1460 * 40]);
        h.Recv();
        h.Send(PeerAck(1460, 60000));
        Assert.Equal(14600u + 1460, h.M.CWnd);
    }

    [Fact]
    public void RestartAfterIdle_ResetsTheWindowToTheInitialWindow()
    {
        var h = Established(WithRto());
        h.Send(PeerAck(0, window: 60000));
        h.Enqueue(new byte[1460 * 20]);
        h.Recv();
        h.Send(PeerAck(1460 * 10, 60000));
        h.Recv();
        h.Send(PeerAck(1460 * 20, 60000));
        Assert.True(h.M.CWnd > 14600);
        h.Advance(10_000);
        h.Enqueue(new byte[100]);
        h.Recv();
        Assert.Equal(14600u, h.M.CWnd);
    }
}
