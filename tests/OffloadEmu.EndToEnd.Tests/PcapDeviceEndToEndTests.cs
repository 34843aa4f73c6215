using OffloadEmu.Link.Devices;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>PcapDevice (our libpcap binding) on the root end of a veth pair; the kernel peer is 198.18.252.1.</summary>
[Trait("Category", "Privileged")]
public sealed class PcapDeviceEndToEndTests
{
    [Fact]
    public void Arp_and_ping_the_kernel_through_libpcap()
    {
        if (!Privileged.ShouldRun()) return;
        using var lab = new VethLab("pcap", 252);
        // The BPF filter is compiled by libpcap: only frames to our MAC or broadcast reach us.
        using var device = new PcapDevice(new PcapDeviceOptions
        {
            InterfaceName = lab.RootEnd,
            MacAddress = lab.OurMac,
            Filter = $"ether dst {lab.OurMac} or ether broadcast",
        });
        Assert.Contains(lab.RootEnd, PcapDevice.ListInterfaces());
        DeviceExchangeAssertions.ArpAndPingUnderCapture(device, lab.Namespace.Name, lab.PeerEnd, lab.OurMac, lab.OurIp, lab.PeerIp, lab.PeerMac);
    }

    [Fact]
    public void Send_and_receive_allocate_nothing_after_warm_up()
    {
        if (!Privileged.ShouldRun()) return;
        using var lab = new VethLab("pca", 247);
        using var device = new PcapDevice(new PcapDeviceOptions { InterfaceName = lab.RootEnd, MacAddress = lab.OurMac });
        AllocationProbe.AssertSendReceiveAllocationFree(device, lab.OurMac, lab.PeerMac);
    }

    [Fact]
    public void A_bad_filter_is_a_LinkDeviceException_naming_the_device()
    {
        if (!Privileged.ShouldRun()) return;
        using var lab = new VethLab("pcf", 254);
        var ex = Assert.Throws<Link.LinkDeviceException>(() => new PcapDevice(new PcapDeviceOptions { InterfaceName = lab.RootEnd, Filter = "not a filter ((" }));
        Assert.Equal(lab.RootEnd, ex.Device);
        Assert.Contains("filter", ex.Message);
    }
}
