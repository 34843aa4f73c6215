namespace OffloadEmu.Wire.Tests;

/// <summary>Architecture §4: nothing is allocated per frame on the parse and emit paths.</summary>
public class AllocationTests
{
    private static readonly MacAddress MacA = MacAddress.Parse("02:00:5e:00:53:0a");
    private static readonly MacAddress MacB = MacAddress.Parse("02:00:5e:00:53:0b");
    private static readonly Ipv4Address IpA = Ipv4Address.Parse("198.18.200.1");
    private static readonly Ipv4Address IpB = Ipv4Address.Parse("198.18.200.2");

    // Parse a received echo request and emit its reply in place of a second buffer, as the target will.
    private static int RoundTrip(byte[] v4Frame, byte[] v6Frame, byte[] arpFrame, byte[] output)
    {
        int work = 0;

        EthernetFrame.TryCreate(v4Frame, out var eth, out _);
        EthernetRepr.TryParse(eth, out var ethRepr, out _);
        Ipv4Packet.TryCreate(eth.Payload, out var ip4, out _);
        Ipv4Repr.TryParse(ip4, out var ip4Repr, out _);
        Icmpv4Packet.TryCreate(ip4.Payload, out var icmp4, out _);
        Icmpv4Repr.TryParse(icmp4, out var icmp4Repr, out _);
        var replyEth = new EthernetRepr(ethRepr.Destination, ethRepr.Source, EtherType.Ipv4, ethRepr.VlanTag);
        var reply4 = Icmpv4Repr.EchoReply(icmp4Repr.Identifier, icmp4Repr.SequenceNumber, icmp4Repr.DataLength);
        var replyIp4 = new Ipv4Repr(ip4Repr.Destination, ip4Repr.Source, IpProtocol.Icmp, reply4.BufferLength);
        replyEth.Emit(output);
        replyIp4.Emit(output.AsSpan(replyEth.BufferLength));
        reply4.Emit(output.AsSpan(replyEth.BufferLength + replyIp4.BufferLength), icmp4.Payload);
        work += replyEth.BufferLength + replyIp4.PayloadLength;

        EthernetFrame.TryCreate(v6Frame, out eth, out _);
        Ipv6Packet.TryCreate(eth.Payload, out var ip6, out _);
        Ipv6Repr.TryParse(ip6, out var ip6Repr, out _);
        Icmpv6Packet.TryCreate(ip6.UpperLayerPayload, out var icmp6, out _);
        Icmpv6Repr.TryParse(icmp6, ip6Repr.Source, ip6Repr.Destination, out var icmp6Repr, out _);
        var reply6 = Icmpv6Repr.EchoReply(icmp6Repr.Identifier, icmp6Repr.SequenceNumber, icmp6Repr.DataLength);
        var replyIp6 = new Ipv6Repr(ip6Repr.Destination, ip6Repr.Source, IpProtocol.Icmpv6, reply6.BufferLength);
        replyIp6.Emit(output.AsSpan(14));
        reply6.Emit(output.AsSpan(54), replyIp6.Source, replyIp6.Destination, icmp6.Payload);
        work += reply6.BufferLength;

        EthernetFrame.TryCreate(arpFrame, out eth, out _);
        ArpPacket.TryCreate(eth.Payload, out var arp, out _);
        ArpRepr.TryParse(arp, out var arpRepr, out _);
        var arpReply = new ArpRepr(ArpOperation.Reply, MacB, arpRepr.TargetProtocolAddress, arpRepr.SenderHardwareAddress, arpRepr.SenderProtocolAddress);
        arpReply.Emit(output.AsSpan(14));
        work += arpReply.Equals(arpRepr) ? 0 : 1;
        return work;
    }

    [Fact]
    public void Parsing_and_emitting_10000_frames_allocates_nothing()
    {
        var v4 = GoldenFrames.Icmpv4EchoRequest;
        var v6 = GoldenFrames.Icmpv6EchoRequest;
        var arp = GoldenFrames.ArpRequest;
        var output = new byte[1514];
        int expected = RoundTrip(v4, v6, arp, output);
        for (int i = 0; i < 1000; i++) RoundTrip(v4, v6, arp, output); // warm-up: tiering, static init

        long before = GC.GetAllocatedBytesForCurrentThread();
        int total = 0;
        for (int i = 0; i < 10_000; i++) total += RoundTrip(v4, v6, arp, output);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(expected * 10_000, total);
        // The last reply emitted is a well-formed ARP reply to the kernel's request.
        Assert.True(ArpPacket.TryCreate(output.AsSpan(14), out var packet));
        Assert.True(ArpRepr.TryParse(packet, out var reply));
        Assert.Equal(new ArpRepr(ArpOperation.Reply, MacB, IpB, MacA, IpA), reply);
    }
}
