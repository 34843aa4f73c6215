using OffloadEmu.Link.Devices;

namespace OffloadEmu.Link.Tests;

public sealed class TapDeviceTests
{
    [Fact]
    public void Derived_mac_is_deterministic_locally_administered_unicast()
    {
        var m1 = TapDevice.DeriveMac("oe0");
        Assert.Equal(m1, TapDevice.DeriveMac("oe0"));
        Assert.NotEqual(m1, TapDevice.DeriveMac("oe1"));
        Assert.True(m1.IsLocallyAdministered);
        Assert.False(m1.IsMulticast);
    }

    [Fact]
    public void Attaching_to_a_missing_tap_names_the_device()
    {
        if (!OperatingSystem.IsLinux()) return;
        var ex = Assert.Throws<LinkDeviceException>(() => TapDevice.Attach("oe-nonexist9"));
        Assert.Equal("oe-nonexist9", ex.Device);
        Assert.Contains("oe-nonexist9", ex.Message);
    }
}
