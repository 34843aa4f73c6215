namespace OffloadEmu.Target.Tests;

/// <summary>Nic:BusyPollMicroseconds: validated at construction (a bad value names the option and its range).</summary>
public sealed class BusyPollOptionTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(50)]
    [InlineData(OffloadTargetOptions.MaxBusyPollMicroseconds)]
    public void Accepted_values(int us)
        => Assert.DoesNotContain(new OffloadTargetOptions { BusyPollMicroseconds = us }.Validate(), e => e.Contains("BusyPoll"));

    [Theory]
    [InlineData(-1)]
    [InlineData(OffloadTargetOptions.MaxBusyPollMicroseconds + 1)]
    public void Refused_values_name_the_option_and_range(int us)
    {
        var error = Assert.Single(new OffloadTargetOptions { BusyPollMicroseconds = us }.Validate());
        Assert.Contains("BusyPollMicroseconds", error);
        Assert.Contains("0..100000", error);
    }
}
