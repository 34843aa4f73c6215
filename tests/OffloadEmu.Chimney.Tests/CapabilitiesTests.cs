namespace OffloadEmu.Chimney.Tests;

public class CapabilitiesTests
{
    [Fact]
    public void Defaults_are_valid()
        => Assert.Empty(new TcpConnectionOffloadCapabilities { TcpConnectionOffloadCapacity = 1024 }.Validate());

    [Fact]
    public void Encapsulation_must_include_802_3_or_llc_snap()
    {
        var caps = new TcpConnectionOffloadCapabilities { Encapsulation = OffloadEncapsulation.Null | OffloadEncapsulation.Ieee8023PAndQ };
        Assert.Contains("Encapsulation", Assert.Single(caps.Validate()));
        Assert.Empty((caps with { Encapsulation = OffloadEncapsulation.IeeeLlcSnapRouted }).Validate());
        Assert.Equal(0x02u, (uint)OffloadEncapsulation.Ieee8023);
        Assert.Equal(0x10u, (uint)OffloadEncapsulation.IeeeLlcSnapRouted);
    }

    [Fact]
    public void Inconsistent_families_are_reported()
    {
        Assert.Contains("SupportIPv4", Assert.Single(new TcpConnectionOffloadCapabilities { SupportIPv4 = false, SupportIPv6 = false }.Validate()));
        Assert.Contains("SupportIPv6ExtensionHeaders", Assert.Single(new TcpConnectionOffloadCapabilities { SupportIPv6 = false, SupportIPv6ExtensionHeaders = true }.Validate()));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpConnectionOffloadCapabilities { CongestionAlgorithm = 16 });
    }
}
