namespace OffloadEmu.HostStack.Tests;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void Percentiles_fall_within_a_bucket_of_the_true_value()
    {
        var h = new LatencyHistogram();
        Assert.Equal(0, h.Percentile(0.99));
        // 1..10,000 µs once each: p50 = 5,000, p99 = 9,900, p100 = 10,000 (buckets are at most 1/16 wide).
        for (int us = 1; us <= 10_000; us++) h.RecordMicroseconds(us);
        Assert.Equal(10_000, h.Count);
        AssertNear(5_000, h.Percentile(0.50));
        AssertNear(9_900, h.Percentile(0.99));
        AssertNear(10_000, h.Percentile(1.0));
        // Below 128 µs the buckets are 1 µs wide: exact.
        var small = new LatencyHistogram();
        for (int i = 0; i < 99; i++) small.RecordMicroseconds(40);
        small.RecordMicroseconds(3_000_000_000_000);   // beyond the last bucket: counted there, not lost
        small.RecordMicroseconds(-5);                  // a clock step backwards counts as 0
        Assert.Equal(101, small.Count);
        Assert.Equal(1, small.Percentile(0.0));
        Assert.Equal(41, small.Percentile(0.50));
        Assert.True(small.Percentile(1.0) > 1e9);
    }

    [Fact]
    public async Task Records_from_many_threads_are_all_counted()
    {
        var h = new LatencyHistogram();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < 50_000; i++) h.RecordMicroseconds(i % 300);
        })));
        Assert.Equal(200_000, h.Count);
        AssertNear(150, h.Percentile(0.50));
    }

    private static void AssertNear(double expected, double actual)
        => Assert.True(actual >= expected && actual <= expected * (1 + 1.0 / 16) + 1, $"expected about {expected}, got {actual}");
}
