using OffloadEmu.Link;
using OffloadEmu.Wire;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>Runs the ARP + ping exchange under a tcpdump capture in the peer namespace and checks the capture with tshark.</summary>
internal static class DeviceExchangeAssertions
{
    internal static void ArpAndPingUnderCapture(ILinkDevice device, string netns, string captureInterface,
        MacAddress ourMac, Ipv4Address ourIp, Ipv4Address peerIp, MacAddress expectedPeerMac, long dropsBefore = 0)
    {
        using var capture = new TcpdumpCapture(netns, captureInterface);
        var exchange = new KernelPeerExchange(device, ourMac, ourIp, peerIp);
        var peerMac = exchange.ResolvePeer();
        Assert.Equal(expectedPeerMac, peerMac);
        exchange.Ping(peerMac);
        capture.Stop(minimumFrames: 4);   // ARP request + reply, echo request + reply

        string f = capture.FilePath;
        Tshark.AssertClean(f);
        Tshark.AssertPresent(f, $"arp.opcode == 1 && arp.src.hw_mac == {ourMac} && arp.src.proto_ipv4 == {ourIp} && arp.dst.proto_ipv4 == {peerIp}");
        Tshark.AssertPresent(f, $"arp.opcode == 2 && eth.dst == {ourMac} && arp.src.proto_ipv4 == {peerIp} && arp.dst.proto_ipv4 == {ourIp}");
        string echo = $"icmp.ident == {Tshark.F(KernelPeerExchange.EchoId)} && icmp.seq == {Tshark.F(KernelPeerExchange.EchoSeq)}";
        Tshark.AssertPresent(f, $"icmp.type == 8 && ip.src == {ourIp} && ip.dst == {peerIp} && eth.src == {ourMac} && {echo}");
        Tshark.AssertPresent(f, $"icmp.type == 0 && ip.src == {peerIp} && ip.dst == {ourIp} && eth.dst == {ourMac} && {echo}");
        Assert.Equal(dropsBefore, device.Statistics.TotalDrops);
    }
}
