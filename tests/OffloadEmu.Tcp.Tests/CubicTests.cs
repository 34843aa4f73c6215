using OffloadEmu.Tcp;
using OffloadEmu.Tcp.Congestion;

namespace OffloadEmu.Tcp.Tests;

/// <summary>RFC 9438 CUBIC: β = 0.7, K, the plateau at W_max and convex growth beyond it, fast convergence, timeout;
/// and a full impaired transfer with CUBIC plugged in.</summary>
public class CubicTests
{
    private const int Mss = 1000;

    // Acknowledges one window per RTT for the given time, as a steady flow would.
    private static Instant Run(Cubic cc, Instant from, TimeSpan duration, int rttMs = 200)
    {
        var now = from;
        var end = from + duration;
        var rtt = TimeSpan.FromMilliseconds(rttMs);
        while (now < end)
        {
            int segments = (int)(cc.CWnd / Mss);
            for (int i = 0; i < segments; i++) cc.OnAck(Mss, now, rtt);
            now += rtt;
        }
        return now;
    }

    [Fact]
    public void CongestionEvent_ReducesByBeta_AndComputesK()
    {
        var cc = new Cubic();
        cc.Reset(Mss, 100 * Mss, 50 * Mss);
        cc.OnEnterRecovery(100 * Mss, Instant.Zero);
        Assert.Equal(70u * Mss, cc.SsThresh);
        Assert.Equal(100, cc.WMax, 6);
        cc.OnExitRecovery(70 * Mss);
        Assert.Equal(70u * Mss, cc.CWnd);
        cc.OnAck(Mss, Instant.FromSeconds(1), TimeSpan.FromMilliseconds(10));
        Assert.Equal(Math.Cbrt(100 * 0.3 / 0.4), cc.K, 3); // K = ∛(W_max(1−β)/C)
    }

    [Fact]
    public void Window_PlateausNearWMaxAtK_ThenGrowsConvexly()
    {
        var cc = new Cubic();
        cc.Reset(Mss, 100 * Mss, 50 * Mss);
        cc.OnEnterRecovery(100 * Mss, Instant.Zero);
        cc.OnExitRecovery(70 * Mss);
        var start = Instant.FromSeconds(10);
        var atK = Run(cc, start, TimeSpan.FromSeconds(Math.Cbrt(75)));
        double segmentsAtK = (double)cc.CWnd / Mss;
        Assert.InRange(segmentsAtK, 95, 106);
        var later = Run(cc, atK, TimeSpan.FromSeconds(3));
        uint after3 = cc.CWnd;
        Assert.InRange((double)after3 / Mss, 106, 120);   // W(K+3) = 0.4·3³ + 100 ≈ 111
        Run(cc, later, TimeSpan.FromSeconds(3));
        // Convex: the second 3 s add far more than the first (W(K+6) ≈ 186).
        Assert.True(cc.CWnd - after3 > 4 * (after3 - 100 * Mss), $"convex region: {cc.CWnd / Mss} segments");
    }

    [Fact]
    public void ShortRtt_RenoFriendlyRegion_IsNeverSlowerThanReno()
    {
        var cc = new Cubic();
        cc.Reset(Mss, 100 * Mss, 50 * Mss);
        cc.OnEnterRecovery(100 * Mss, Instant.Zero);
        cc.OnExitRecovery(70 * Mss);
        // 10 ms RTT for 4.2 s = 420 RTTs: the Reno estimate (α ≈ 0.53 segment per RTT) outruns the cubic curve.
        Run(cc, Instant.FromSeconds(10), TimeSpan.FromSeconds(Math.Cbrt(75)), rttMs: 10);
        Assert.True(cc.CWnd > 250 * Mss, $"{cc.CWnd / Mss} segments");
    }

    [Fact]
    public void FastConvergence_LowersWMaxWhenTheWindowShrinks()
    {
        var cc = new Cubic();
        cc.Reset(Mss, 100 * Mss, 50 * Mss);
        cc.OnEnterRecovery(100 * Mss, Instant.Zero);
        cc.OnExitRecovery(70 * Mss);
        // A second loss before regaining W_max: W_max = cwnd·(1+β)/2.
        cc.OnEnterRecovery(70 * Mss, Instant.Zero);
        Assert.Equal(70 * 1.7 / 2, cc.WMax, 6);
    }

    [Fact]
    public void Timeout_CollapsesToOneSegment()
    {
        var cc = new Cubic();
        cc.Reset(Mss, 40 * Mss, 20 * Mss);
        cc.OnRetransmitTimeout(40 * Mss);
        Assert.Equal((uint)Mss, cc.CWnd);
        Assert.Equal(28u * Mss, cc.SsThresh);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ImpairedTransfer_WithCubic_DeliversEverything(int seed)
    {
        var sim = new Simulation(seed, Impairment.Mixed, 65536, bytesEachWay: 300_000, timestamps: true, congestion: () => new Cubic());
        string? failure = sim.Run(TimeSpan.FromMinutes(30));
        Assert.True(failure is null, $"{failure}: {sim.Describe()}");
        Assert.True(sim.ConsumerA.Error is null && sim.ConsumerB.Error is null, sim.Describe());
    }
}
