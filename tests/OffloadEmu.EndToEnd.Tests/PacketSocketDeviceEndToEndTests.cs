using OffloadEmu.Link.Devices;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>PacketSocketDevice on the root end of a veth pair; the kernel peer is 198.18.251.1 in the test namespace.</summary>
[Trait("Category", "Privileged")]
public sealed class PacketSocketDeviceEndToEndTests
{
    [Fact]
    public void Arp_and_ping_the_kernel_through_a_packet_socket()
    {
        if (!Privileged.ShouldRun()) return;
        using var lab = new VethLab("pkt", 251);
        using var device = new PacketSocketDevice(new PacketSocketDeviceOptions { InterfaceName = lab.RootEnd, MacAddress = lab.OurMac });
        Assert.Equal(lab.OurMac, device.MacAddress);
        Assert.Equal(1500, device.Mtu);
        DeviceExchangeAssertions.ArpAndPingUnderCapture(device, lab.Namespace.Name, lab.PeerEnd, lab.OurMac, lab.OurIp, lab.PeerIp, lab.PeerMac);
    }

    [Fact]
    public void Send_and_receive_allocate_nothing_after_warm_up()
    {
        if (!Privileged.ShouldRun()) return;
        using var lab = new VethLab("pka", 248);
        using var device = new PacketSocketDevice(new PacketSocketDeviceOptions { InterfaceName = lab.RootEnd, MacAddress = lab.OurMac });
        AllocationProbe.AssertSendReceiveAllocationFree(device, lab.OurMac, lab.PeerMac);
    }

    [Fact]
    public void Reports_the_interface_mac_by_default()
    {
        if (!Privileged.ShouldRun()) return;
        using var lab = new VethLab("pkm", 253);
        using var device = PacketSocketDevice.Open(lab.RootEnd);
        string mac = File.ReadAllText($"/sys/class/net/{lab.RootEnd}/address").Trim();
        Assert.Equal(Wire.MacAddress.Parse(mac), device.MacAddress);
        device.Dispose();
        device.Dispose();
    }
}
