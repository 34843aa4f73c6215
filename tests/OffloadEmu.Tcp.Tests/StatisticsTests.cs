using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>TCP_OFFLOAD_STATS-shaped counters (chimney spec §6.10), aggregation, configuration checks and cached-state updates.</summary>
public class StatisticsTests
{
    [Fact]
    public void Counters_FollowTheOffloadStatsDefinitions()
    {
        var h = Established();
        var start = h.M.Statistics;
        h.Enqueue("abc");
        h.Recv();                                   // one new segment
        h.Advance(1000);
        h.Recv();                                   // its retransmission: not an OutSegment
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 4 });
        var bad = new byte[20];
        h.M.ProcessSegment(bad, h.Now);             // bad checksum
        h.M.Abort();
        h.Recv();
        var s = h.M.Statistics;
        Assert.Equal(start.OutSegments + 2, s.OutSegments);  // the data segment and the RST
        Assert.Equal(1ul, s.RetransmittedSegments);
        Assert.Equal(start.InSegments + 2, s.InSegments);
        Assert.Equal(1ul, s.InErrors);
        Assert.Equal(1ul, s.OutResets);
        Assert.Equal(1ul, s.RetransmitTimeouts);
    }

    [Fact]
    public void Add_AggregatesConnections()
    {
        var a = Established();
        var b = Established();
        a.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq + 9 });
        b.M.ProcessSegment(new byte[3], b.Now);
        var total = default(TcpStatistics);
        total.Add(a.M.Statistics);
        total.Add(b.M.Statistics);
        Assert.Equal(a.M.Statistics.InSegments + b.M.Statistics.InSegments, total.InSegments);
        Assert.Equal(1ul, total.ChallengeAcks);
        Assert.Equal(1ul, total.InErrors);
    }

    [Fact]
    public void Config_RejectsADelayedAckOfHalfASecond()
        => Assert.Throws<ArgumentException>(() => SynSent(Config(c => new TcpConfig { DelayedAckTicks = 500, IsnGenerator = c.IsnGenerator })));

    [Fact]
    public void UpdateCachedState_EnablesKeepAliveAndRestartsTotalRT()
    {
        var h = Established();
        h.Enqueue("abc");
        h.Recv();
        h.Advance(1000);
        h.Recv();
        h.Advance(500);
        Assert.Equal(500u, h.M.TotalRTTicks(h.Now));
        var cached = h.M.ExportCachedState() with
        {
            Flags = TcpCachedFlags.KeepAliveEnabled | TcpCachedFlags.MaxRtRestart | TcpCachedFlags.NaglingEnabled,
            KaTimeout = 5000,
            KaInterval = 1000,
            KaProbeCount = 2,
        };
        h.M.UpdateCachedState(cached, h.Now);
        Assert.Equal(0u, h.M.TotalRTTicks(h.Now));
        Assert.Equal(cached, h.M.ExportCachedState());
        // All acked, then idle: the keep-alive probe comes 5 s after the last segment.
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 4 });
        h.Advance(5000);
        var probe = h.Recv().Single();
        Assert.Equal(LocalSeq + 3, probe.Seq);
    }
}
