using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>RFC 7323: timestamps on every segment, TS.Recent update rule, PAWS, RTT measurement from echoes.</summary>
public class TimestampTests
{
    private static TcpConfig TsConfig() => Config(c => new TcpConfig
    {
        Timestamps = true,
        WindowScaling = false,
        ReceiveBufferSize = BufferSize,
        MinRto = TimeSpan.FromMilliseconds(200),
        IsnGenerator = c.IsnGenerator,
    });

    private static Harness EstablishedWithTimestamps(uint peerTsVal = 1000)
    {
        var h = SynSent(TsConfig());
        h.Send(SendTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = RemoteSeq,
            AckNumber = LocalSeq + 1,
            Options = new TcpOptions { MaxSegmentSize = 1460, Timestamps = new TcpTimestamps(peerTsVal, h.M.TsValAt(h.Now)) },
        });
        h.Recv();
        Assert.True(h.M.TimestampsEnabled);
        return h;
    }

    private static TcpRepr PeerData(int offset, uint tsVal)
        => SendTemplate with
        {
            SequenceNumber = RemoteSeq + 1 + offset,
            AckNumber = LocalSeq + 1,
            Options = new TcpOptions { Timestamps = new TcpTimestamps(tsVal, 0) },
        };

    [Fact]
    public void EverySegment_CarriesTsValAndEchoesTsRecent()
    {
        var h = EstablishedWithTimestamps(peerTsVal: 1000);
        h.Advance(7);
        h.Enqueue("abc");
        var seg = h.Recv().Single();
        Assert.Equal(new TcpTimestamps(h.M.TsValAt(h.Now), 1000), seg.Repr.Options.Timestamps);
        Assert.Equal(1460 - 12, h.M.EffectiveMss); // RFC 6691
    }

    [Fact]
    public void TsRecent_IsTakenOnlyFromSegmentsAtTheLeftEdge()
    {
        var h = EstablishedWithTimestamps(peerTsVal: 1000);
        h.Send(PeerData(0, 1100), "abc");
        Assert.Equal(1100u, h.M.TsRecent);
        // Out of order (starts beyond Last.ACK.sent): TS.Recent does not move.
        h.Send(PeerData(10, 1200), "xyz");
        Assert.Equal(1100u, h.M.TsRecent);
    }

    [Fact]
    public void Paws_DropsAndAcksASegmentWithAnOldTimestamp()
    {
        var h = EstablishedWithTimestamps(peerTsVal: 5000);
        h.Send(PeerData(0, 4000), "old");
        Assert.Equal(RemoteSeq + 1, h.M.RcvNxt);
        Assert.Equal(1ul, h.M.Statistics.PawsDrops);
        var ack = h.Recv().Single();
        Assert.Equal(RemoteSeq + 1, ack.Ack);
        Assert.Equal(5000u, ack.Repr.Options.Timestamps!.Value.TsEcr);
        // A timestamp that wrapped past 2^31 ahead is "old" too; an equal one is fine.
        h.Send(PeerData(0, 5000), "new");
        Assert.Equal(RemoteSeq + 4, h.M.RcvNxt);
    }

    [Fact]
    public void Paws_DoesNotApplyToRst()
    {
        var h = EstablishedWithTimestamps(peerTsVal: 5000);
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 1, Options = new TcpOptions { Timestamps = new TcpTimestamps(1, 0) } });
        Assert.Equal(TcpState.Closed, h.M.State);
    }

    [Fact]
    public void SegmentWithoutTheOption_IsDroppedSilently_ButARstWithoutItStillResets()
    {
        // RFC 7323 §3.2: once negotiated, a non-RST segment without TSopt SHOULD be silently dropped; a RST MUST be
        // processed regardless (found by tests/conformance: the target took such data).
        var h = EstablishedWithTimestamps(peerTsVal: 5000);
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 }, "bare");
        Assert.Equal(RemoteSeq + 1, h.M.RcvNxt);
        Assert.Equal(1ul, h.M.Statistics.MissingTimestampDrops);
        Assert.Empty(h.Recv());
        h.Send(PeerData(0, 5001), "ok");
        Assert.Equal(RemoteSeq + 3, h.M.RcvNxt);
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 3 });
        Assert.Equal(TcpState.Closed, h.M.State);
    }

    [Fact]
    public void Paws_IgnoresATsRecentOlderThan24Days()
    {
        var h = EstablishedWithTimestamps(peerTsVal: 5000);
        h.Clock.Advance(TimeSpan.FromDays(25));
        h.Send(PeerData(0, 10), "abc");
        Assert.Equal(RemoteSeq + 4, h.M.RcvNxt);
    }

    [Fact]
    public void Rttm_SamplesFromTheEchoedTimestamp_EvenForRetransmittedSegments()
    {
        var h = SynSent(TsConfig());
        var firstSynTs = h.M.TsValAt(h.Now);
        h.Advance(1000);
        var retransmitted = h.Recv().Single();
        var secondSynTs = retransmitted.Repr.Options.Timestamps!.Value.TsVal;
        Assert.NotEqual(firstSynTs, secondSynTs);
        h.Advance(40);
        // The SYN-ACK echoes the retransmitted SYN: the RTT is 40 ms, not 1040 ms (RFC 7323 §4.2 resolves Karn's ambiguity).
        h.Send(SendTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = RemoteSeq,
            AckNumber = LocalSeq + 1,
            Options = new TcpOptions { MaxSegmentSize = 1460, Timestamps = new TcpTimestamps(1, secondSynTs) },
        });
        Assert.Equal(TimeSpan.FromMilliseconds(40), h.M.SRtt);
        Assert.Equal(TimeSpan.FromMilliseconds(20), h.M.RttVar);
    }

    [Fact]
    public void Rttm_DataAckSamples()
    {
        var h = EstablishedWithTimestamps(peerTsVal: 1000);
        h.Enqueue("abc");
        var seg = h.Recv().Single();
        h.Advance(30);
        var before = h.M.SRtt;
        h.Send(SendTemplate with
        {
            SequenceNumber = RemoteSeq + 1,
            AckNumber = LocalSeq + 4,
            Options = new TcpOptions { Timestamps = new TcpTimestamps(1001, seg.Repr.Options.Timestamps!.Value.TsVal) },
        });
        Assert.NotEqual(before, h.M.SRtt);
        // RFC 6298: SRTT moves by 1/8 of the difference towards the 30 ms sample.
        Assert.Equal(before + (TimeSpan.FromMilliseconds(30) - before) / 8, h.M.SRtt);
    }

    [Fact]
    public void WindowScaleAndTimestamps_NegotiateEndToEnd()
    {
        var pair = ConnectedPair.Create(timestamps: true, bufferSize: 1 << 20);
        Assert.True(pair.A.TimestampsEnabled && pair.B.TimestampsEnabled);
        Assert.Equal(5, pair.A.RcvWindScale);
        Assert.Equal(5, pair.B.SndWindScale);
        Assert.Equal(1u << 20, pair.A.SndWnd);
        Assert.Equal(1448, pair.A.EffectiveMss);
    }
}
