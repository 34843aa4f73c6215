namespace OffloadEmu.Chimney.Tests;

public class StatisticsTests
{
    [Fact]
    public void Tcp_counters_count_concurrently_and_reset_keeps_the_gauge()
    {
        var stats = new TcpOffloadStatistics();
        Parallel.For(0, 8, worker =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                stats.AddInSegments();
                stats.AddOutSegments(2);
                stats.AddRetransmittedSegments();
            }
        });
        stats.IncrementCurrentlyEstablished();
        stats.IncrementCurrentlyEstablished();
        stats.DecrementCurrentlyEstablished();
        stats.AddResetEstablished();
        stats.AddInErrors(3);
        stats.AddOutResets(4);
        Assert.Equal(new TcpOffloadStatisticsSnapshot(80_000, 160_000, 1, 1, 80_000, 3, 4), stats.Snapshot());

        stats.Reset();
        Assert.Equal(new TcpOffloadStatisticsSnapshot(0, 0, 1, 0, 0, 0, 0), stats.Snapshot());
    }

    [Fact]
    public void Counters_wrap_at_2_to_the_64()
    {
        var stats = new TcpOffloadStatistics();
        stats.AddInSegments(ulong.MaxValue);
        stats.AddInSegments(2);
        Assert.Equal(1ul, stats.Snapshot().InSegments);
    }

    [Fact]
    public void Ip_counters_count_datagrams_and_octets_and_reset_to_zero()
    {
        var stats = new IpOffloadStatistics();
        Parallel.For(0, 4, worker =>
        {
            for (int i = 0; i < 1000; i++)
            {
                stats.AddReceived(1500);
                stats.AddSent(40);
            }
        });
        stats.AddInDelivers(5);
        stats.AddInHeaderErrors();
        stats.AddInTruncatedPackets(2);
        stats.AddInDiscards(3);
        stats.AddOutDiscards(4);
        stats.AddOutNoRoutes(5);
        Assert.Equal(new IpOffloadStatisticsSnapshot(4000, 6_000_000, 5, 4000, 160_000, 1, 2, 3, 4, 5), stats.Snapshot());
        stats.Reset();
        Assert.Equal(default, stats.Snapshot());
    }
}
