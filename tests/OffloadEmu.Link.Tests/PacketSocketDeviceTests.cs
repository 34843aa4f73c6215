using OffloadEmu.Link.Devices;

namespace OffloadEmu.Link.Tests;

public sealed class PacketSocketDeviceTests
{
    [Fact]
    public void Opening_a_missing_interface_fails_with_the_device_name()
    {
        if (!OperatingSystem.IsLinux()) return;
        var ex = Assert.Throws<LinkDeviceException>(() => PacketSocketDevice.Open("oe-nonexist9"));
        Assert.Equal("oe-nonexist9", ex.Device);
    }
}
