using OffloadEmu.Link.Decorators;

namespace OffloadEmu.Link.Tests;

public class ImpairmentSpecTests
{
    [Fact]
    public void ParsesACombinedNetemString()
    {
        var s = ImpairmentSpec.Parse("delay 5ms 2ms loss 2% reorder 10% gap 3 duplicate 1% corrupt 0.5% rate 100mbit");
        Assert.Equal(TimeSpan.FromMilliseconds(5), s.Delay);
        Assert.Equal(TimeSpan.FromMilliseconds(2), s.Jitter);
        Assert.Equal(2, s.LossPercent);
        Assert.Equal(10, s.ReorderPercent);
        Assert.Equal(3, s.ReorderGap);
        Assert.Equal(1, s.DuplicatePercent);
        Assert.Equal(0.5, s.CorruptPercent);
        Assert.Equal(100_000_000, s.RateBitsPerSecond);
        Assert.True(s.HoldsFrames);
        Assert.Equal(s, ImpairmentSpec.Parse(s.ToString()));
    }

    [Theory]
    [InlineData("10ms", 10_000)]
    [InlineData("1s", 1_000_000)]
    [InlineData("500us", 500)]
    [InlineData("2.5ms", 2_500)]
    [InlineData("250", 250)] // tc: a bare number is microseconds
    [InlineData("1sec", 1_000_000)]
    public void ParsesTimes(string token, long microseconds)
        => Assert.Equal(TimeSpan.FromMicroseconds(microseconds), ImpairmentSpec.ParseTime(token));

    [Theory]
    [InlineData("100mbit", 100_000_000L)]
    [InlineData("1gbit", 1_000_000_000L)]
    [InlineData("500kbit", 500_000L)]
    [InlineData("10mbps", 80_000_000L)]
    [InlineData("1mibit", 1_048_576L)]
    [InlineData("9600", 9600L)]
    public void ParsesRates(string token, long bits) => Assert.Equal(bits, ImpairmentSpec.ParseRate(token));

    [Fact]
    public void EmptyIsNoneAndReorderGapDefaultsToOne()
    {
        Assert.True(ImpairmentSpec.Parse("  ").IsNone);
        var s = ImpairmentSpec.Parse("delay 10ms reorder 25%");
        Assert.Equal(1, s.ReorderGap);
        Assert.Equal(2, ImpairmentSpec.Parse("loss 2").LossPercent);
        Assert.Equal(3, ImpairmentSpec.Parse("loss random 3%").LossPercent);
    }

    [Theory]
    [InlineData("delay 10xs", "10xs")]
    [InlineData("delay fast", "fast")]
    [InlineData("loss 200%", "200%")]
    [InlineData("loss -1%", "-1%")]
    [InlineData("jitter 5ms", "jitter")]
    [InlineData("rate 100mbits", "100mbits")]
    [InlineData("rate 0mbit", "0mbit")]
    [InlineData("delay 10ms 2ms 25%", "25%")]
    [InlineData("loss 1% 25%", "25%")]
    [InlineData("loss", "loss")]
    [InlineData("delay loss 1%", "delay")]
    [InlineData("delay 5ms reorder 10% gap 0", "0")]
    [InlineData("delay 5ms delay 6ms", "delay")]
    [InlineData("reorder 10%", "reorder")]
    [InlineData("loss state 1", "state")]
    public void RejectsBadInputNamingTheToken(string text, string token)
    {
        var ex = Assert.Throws<FormatException>(() => ImpairmentSpec.Parse(text));
        Assert.Contains($"'{token}", ex.Message);
    }
}
