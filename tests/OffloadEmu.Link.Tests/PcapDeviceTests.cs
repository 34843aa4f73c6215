using OffloadEmu.Link.Devices;

namespace OffloadEmu.Link.Tests;

public sealed class PcapDeviceTests
{
    [Fact]
    public void Library_loads_and_reports_its_version()
    {
        // libpcap0.8 is installed on the build machine; a missing library is its own clear error.
        Assert.True(PcapDevice.IsAvailable, Native.Pcap.NotFoundMessage);
        Assert.StartsWith("libpcap version", PcapDevice.LibraryVersion);
    }

    [Fact]
    public void Opening_a_missing_interface_fails_with_the_device_name()
    {
        if (!OperatingSystem.IsLinux()) return;
        var ex = Assert.Throws<LinkDeviceException>(() => PcapDevice.Open("oe-nonexist9"));
        Assert.Equal("oe-nonexist9", ex.Device);
    }

    [Fact]
    public void A_missing_library_is_a_LinkDeviceException_saying_what_to_install()
    {
        var api = Native.Pcap.Load(new[] { "liboffloademu-no-such-pcap.so.0" });
        Assert.Null(api);
        var ex = Assert.Throws<LinkDeviceException>(() => Native.Pcap.Require(api, "eth9"));
        Assert.Equal("eth9: " + Native.Pcap.NotFoundMessage, ex.Message);
    }

    [Fact]
    public void Missing_library_message_is_one_line_saying_what_to_install()
    {
        Assert.DoesNotContain('\n', Native.Pcap.NotFoundMessage);
        Assert.Contains("libpcap0.8", Native.Pcap.NotFoundMessage);
        Assert.Contains("Npcap", Native.Pcap.NotFoundMessage);
    }
}
