using OffloadEmu.Chimney.State;

namespace OffloadEmu.Chimney.Tests.State;

public class OffloadParametersTests
{
    [Fact]
    public void Defaults_are_valid_and_windows_like()
    {
        var p = OffloadParameters.Default;
        Assert.Empty(p.Validate());
        Assert.Equal(1000u, p.TicksPerSecond);
        Assert.Equal(2, p.TcpAckFrequency);
        Assert.Equal(200, p.TcpDelayedAckTicks);
        Assert.Equal(5, p.TcpMaximumRetransmissions);
        Assert.Equal(3u, p.TcpDuplicateAckThreshold);
        Assert.Equal(500u, p.TcpPushTicks);
    }

    [Theory]
    [InlineData(10u)]
    [InlineData(100u)]
    [InlineData(1000u)]
    public void Supported_tick_rates_are_accepted(uint tps)
    {
        var p = OffloadParameters.ForTicksPerSecond(tps);
        Assert.Empty(p.Validate());
        Assert.Equal(tps, p.TicksPerSecond);
        // The same wall-clock defaults at every rate.
        Assert.Equal(TimeSpan.FromMilliseconds(500), p.ToTimeSpan(p.TcpPushTicks));
        Assert.Equal(TimeSpan.FromMilliseconds(200), p.ToTimeSpan(p.TcpDelayedAckTicks));
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(50u)]
    [InlineData(999u)]
    [InlineData(1001u)]
    [InlineData(10000u)]
    public void Other_tick_rates_are_rejected_naming_the_field(uint tps)
    {
        var p = OffloadParameters.Default with { TicksPerSecond = tps };
        var error = Assert.Single(p.Validate());
        Assert.Contains(nameof(OffloadParameters.TicksPerSecond), error);
        var ex = Assert.Throws<ArgumentException>(p.ThrowIfInvalid);
        Assert.Contains(nameof(OffloadParameters.TicksPerSecond), ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => OffloadParameters.ForTicksPerSecond(tps));
    }

    [Fact]
    public void Each_invalid_field_is_named()
    {
        var p = OffloadParameters.Default with
        {
            TcpAckFrequency = 0,
            TcpMaximumRetransmissions = 0,
            TcpDoubtReachabilityRetransmissions = 1,
            TcpDuplicateAckThreshold = 0,
            TcpPushTicks = 0,
            NceStaleTicks = 0,
        };
        var errors = p.Validate();
        Assert.Equal(6, errors.Count);
        foreach (var name in new[] { "TcpAckFrequency", "TcpMaximumRetransmissions", "TcpDoubtReachabilityRetransmissions", "TcpDuplicateAckThreshold", "TcpPushTicks", "NceStaleTicks" })
            Assert.Contains(errors, e => e.StartsWith(name, StringComparison.Ordinal));
    }

    [Fact]
    public void Delayed_ack_longer_than_500_ms_is_rejected()
    {
        var ok = OffloadParameters.ForTicksPerSecond(10) with { TcpDelayedAckTicks = 5 };
        Assert.Empty(ok.Validate());
        var tooLong = OffloadParameters.ForTicksPerSecond(10) with { TcpDelayedAckTicks = 6 };
        Assert.Contains(nameof(OffloadParameters.TcpDelayedAckTicks), Assert.Single(tooLong.Validate()));
    }

    [Theory]
    [InlineData(10u, 1, 1u)]
    [InlineData(10u, 100, 1u)]
    [InlineData(10u, 101, 2u)]
    [InlineData(100u, 0, 0u)]
    [InlineData(1000u, 7, 7u)]
    public void Milliseconds_round_up_so_nonzero_never_becomes_zero(uint tps, long ms, uint ticks)
        => Assert.Equal(ticks, OffloadParameters.ForTicksPerSecond(tps).TicksFromMilliseconds(ms));
}
