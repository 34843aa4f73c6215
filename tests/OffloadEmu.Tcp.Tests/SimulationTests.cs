namespace OffloadEmu.Tcp.Tests;

/// <summary>The deterministic simulation matrix: seeds × impairments × buffer sizes (× timestamps, SACK), every byte delivered
/// exactly once and in order both ways, clean close, corrupted segments dropped by checksum, retransmissions bounded.</summary>
public class SimulationTests
{
    public static IEnumerable<object[]> Matrix()
    {
        int[] buffers = { 4096, 65536, 1 << 20 };
        foreach (var impairment in Impairment.All)
            foreach (int buffer in buffers)
                for (int seed = 1; seed <= 6; seed++)
                    yield return new object[] { seed, impairment.Name, buffer, seed % 2 == 0, seed % 3 == 0 };
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void Transfer_DeliversEveryByteOnceInOrder_BothWays(int seed, string impairmentName, int bufferSize, bool timestamps, bool sack)
    {
        var impairment = Impairment.All.Single(i => i.Name == impairmentName);
        var sim = new Simulation(seed, impairment, bufferSize, bytesEachWay: 300_000, timestamps, sack: sack);
        string? failure = sim.Run(TimeSpan.FromMinutes(30));
        Assert.True(failure is null, $"{failure}: replay with {sim.Describe()}");
        Assert.True(sim.ConsumerA.Error is null && sim.ConsumerB.Error is null, sim.Describe());
        Assert.True(sim.WireViolation is null, $"{sim.WireViolation}: {sim.Describe()}");
        // A corrupted segment reaching a machine is dropped by checksum and counted, never processed.
        Assert.True(sim.A.Statistics.InErrors == (ulong)sim.CorruptedTo[0], sim.Describe());
        Assert.True(sim.B.Statistics.InErrors == (ulong)sim.CorruptedTo[1], sim.Describe());
        // No retransmission storm: retransmissions stay proportional to what the path destroyed (and reordering
        // provokes a few spurious fast retransmits).
        ulong retransmitted = sim.A.Statistics.RetransmittedSegments + sim.B.Statistics.RetransmittedSegments;
        ulong damaged = (ulong)(sim.Lost + sim.CorruptedTo[0] + sim.CorruptedTo[1]);
        ulong sent = sim.A.Statistics.OutSegments + sim.B.Statistics.OutSegments;
        Assert.True(retransmitted <= 6 * damaged + sent / 10 + 4, $"retransmission storm: {sim.Describe()}");
    }

    public static IEnumerable<object[]> Mixed()
    {
        for (int seed = 1; seed <= 3; seed++)
        {
            yield return new object[] { seed, "no-options" };
            yield return new object[] { seed, "small-mss" };
            yield return new object[] { seed, "cubic-vs-newreno" };
        }
    }

    [Theory]
    [MemberData(nameof(Mixed))]
    public void Transfer_BetweenDifferentlyConfiguredEnds_FallsBackCleanly(int seed, string variant)
    {
        Func<TcpConfig, TcpConfig> tweak = variant switch
        {
            "no-options" => c => c with { Timestamps = false, WindowScaling = false, Sack = false, ReceiveBufferSize = 32 * 1024 },
            "small-mss" => c => c with { Mss = 536, Nagle = false, AckFrequency = 1 },
            _ => c => c with { CongestionControlFactory = () => new Congestion.Cubic() },
        };
        var sim = new Simulation(seed, Impairment.Mixed, 256 * 1024, bytesEachWay: 300_000, timestamps: true, sack: true, tweakB: tweak);
        string? failure = sim.Run(TimeSpan.FromMinutes(30));
        Assert.True(failure is null, $"{failure}: replay with {sim.Describe()}");
        Assert.True(sim.ConsumerA.Error is null && sim.ConsumerB.Error is null, sim.Describe());
        if (variant == "no-options")
        {
            Assert.False(sim.A.TimestampsEnabled || sim.A.SackEnabled || sim.A.SndWindScale != 0);
        }
        if (variant == "small-mss") Assert.Equal(536 - 12, sim.A.EffectiveMss);
    }
}
