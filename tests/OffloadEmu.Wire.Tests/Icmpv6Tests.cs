namespace OffloadEmu.Wire.Tests;

public class Icmpv6Tests
{
    private static readonly Ipv6Address Ip1 = Ipv6Address.Parse("2001:2::1");
    private static readonly Ipv6Address Ip2 = Ipv6Address.Parse("2001:2::2");
    private static readonly MacAddress MacA = MacAddress.Parse("02:00:5e:00:53:0a");
    private static readonly MacAddress MacB = MacAddress.Parse("02:00:5e:00:53:0b");

    private static Icmpv6Repr Parse(byte[] frame, out byte[] icmpBytes, out Ipv6Address source, out Ipv6Address destination)
    {
        Assert.True(EthernetFrame.TryCreate(frame, out var eth));
        Assert.True(Ipv6Packet.TryCreate(eth.Payload, out var ip));
        source = ip.Source;
        destination = ip.Destination;
        icmpBytes = ip.UpperLayerPayload.ToArray();
        Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayerPayload, out var icmp, out var error));
        Assert.True(Icmpv6Repr.TryParse(icmp, source, destination, out var repr, out error), error.ToString());
        return repr;
    }

    [Fact]
    public void Golden_neighbor_solicitation_matches_tshark()
    {
        // tshark: Type Neighbor Solicitation (135), Code 0, Checksum 0x8689 [correct], Target Address 2001:2::2,
        // ICMPv6 Option (Source link-layer address : 02:00:5e:00:53:0a); IPv6 dst ff02::1:ff00:2, Hop Limit 255
        var repr = Parse(GoldenFrames.NeighborSolicitation, out var bytes, out var source, out var destination);
        Assert.Equal(Icmpv6Repr.NeighborSolicitation(Ip2, MacA), repr);
        Assert.Equal(Ipv6Address.Parse("ff02::1:ff00:2"), destination);
        Assert.True(Icmpv6Packet.TryCreate(bytes, out var icmp));
        Assert.Equal(0x8689, icmp.Checksum);
        Assert.Equal(Ip2, icmp.TargetAddress);
        Assert.Equal(8, icmp.NdpOptions.Length);
        Assert.True(icmp.VerifyChecksum(source, destination));
        Assert.Equal(32, repr.BufferLength);
    }

    [Fact]
    public void Golden_neighbor_advertisement_matches_tshark()
    {
        // tshark: Type Neighbor Advertisement (136), Checksum 0x028a [correct], Flags 0x60000000, Solicited, Override,
        // Target Address 2001:2::2, Target link-layer address 02:00:5e:00:53:0b
        var repr = Parse(GoldenFrames.NeighborAdvertisement, out var bytes, out _, out _);
        Assert.Equal(Icmpv6Repr.NeighborAdvertisement(NeighborAdvertisementFlags.Solicited | NeighborAdvertisementFlags.Override, Ip2, MacB), repr);
        Assert.True(Icmpv6Packet.TryCreate(bytes, out var icmp));
        Assert.Equal(0x028a, icmp.Checksum);
        Assert.Equal(NeighborAdvertisementFlags.Solicited | NeighborAdvertisementFlags.Override, icmp.NeighborFlags);
        Assert.True(icmp.TryGetLinkLayerAddress(NdpOptionType.TargetLinkLayerAddress, out var mac, out _));
        Assert.Equal(MacB, mac);
        Assert.False(icmp.TryGetLinkLayerAddress(NdpOptionType.SourceLinkLayerAddress, out _, out var error));
        Assert.Equal(WireError.None, error);
    }

    [Fact]
    public void Golden_echo_and_packet_too_big_match_tshark()
    {
        // tshark: Echo (ping) request id=0x4f46, seq=1, Checksum 0xf921 [correct]; reply Checksum 0xf821
        Assert.Equal(Icmpv6Repr.EchoRequest(0x4f46, 1, 56), Parse(GoldenFrames.Icmpv6EchoRequest, out _, out _, out _));
        Assert.Equal(Icmpv6Repr.EchoReply(0x4f46, 1, 56), Parse(GoldenFrames.Icmpv6EchoReply, out _, out _, out _));
        // tshark: Packet Too Big (2), Checksum 0x65c3 [correct], MTU 1280, then the invoking IPv6 packet 2001:2::1 -> 2001:2:0:1::9
        var ptb = Parse(GoldenFrames.PacketTooBig, out var bytes, out _, out _);
        Assert.Equal(Icmpv6Repr.PacketTooBig(1280, 1232), ptb);
        Assert.True(Icmpv6Packet.TryCreate(bytes, out var icmp));
        Assert.Equal(1280u, icmp.Mtu);
        Assert.True(Ipv6Packet.TryCreate(icmp.Payload, out _, out var error) == false && error == WireError.Truncated);
        Assert.Equal(Ipv6Address.Parse("2001:2:0:1::9"), Ipv6Address.Read(icmp.Payload[24..]));
    }

    [Fact]
    public void Neighbor_messages_emit_the_kernel_bytes()
    {
        var ns = Icmpv6Repr.NeighborSolicitation(Ip2, MacA);
        var buffer = new byte[ns.BufferLength];
        ns.Emit(buffer, Ip1, Ipv6Address.Parse("ff02::1:ff00:2"));
        Assert.Equal(GoldenFrames.NeighborSolicitation[54..], buffer);

        var na = Icmpv6Repr.NeighborAdvertisement(NeighborAdvertisementFlags.Solicited | NeighborAdvertisementFlags.Override, Ip2, MacB);
        buffer = new byte[na.BufferLength];
        na.Emit(buffer, Ip2, Ip1);
        Assert.Equal(GoldenFrames.NeighborAdvertisement[54..], buffer);
    }

    public static TheoryData<int> Reprs => new() { 0, 1, 2, 3, 4, 5, 6 };

    private static Icmpv6Repr Make(int which) => which switch
    {
        0 => Icmpv6Repr.EchoRequest(9, 10, 3),
        1 => Icmpv6Repr.EchoReply(0xFFFF, 0, 3),
        2 => Icmpv6Repr.PacketTooBig(1280, 3),
        3 => Icmpv6Repr.NeighborSolicitation(Ip1, null),
        4 => Icmpv6Repr.NeighborSolicitation(Ip1, MacB),
        5 => Icmpv6Repr.NeighborAdvertisement(NeighborAdvertisementFlags.Router, Ip2, null),
        _ => Icmpv6Repr.NeighborAdvertisement(NeighborAdvertisementFlags.Router | NeighborAdvertisementFlags.Solicited
                                               | NeighborAdvertisementFlags.Override, Ip2, MacA),
    };

    [Theory]
    [MemberData(nameof(Reprs))]
    public void Repr_round_trips(int which)
    {
        var repr = Make(which);
        var buffer = new byte[repr.BufferLength];
        if (repr.IsNeighborMessage) repr.Emit(buffer, Ip1, Ip2);
        else repr.Emit(buffer, Ip1, Ip2, "abc"u8);
        Assert.True(Icmpv6Packet.TryCreate(buffer, out var icmp));
        Assert.True(icmp.VerifyChecksum(Ip1, Ip2));
        Assert.False(icmp.VerifyChecksum(Ip1, Ip1));
        Assert.True(Icmpv6Repr.TryParse(icmp, Ip1, Ip2, out var parsed, out var error), error.ToString());
        Assert.Equal(repr, parsed);
        Assert.Equal(repr.GetHashCode(), parsed.GetHashCode());
    }

    [Fact]
    public void Checksum_depends_on_the_pseudo_header()
    {
        var bytes = GoldenFrames.Icmpv6EchoRequest[54..];
        Assert.True(Icmpv6Packet.TryCreate(bytes, out var icmp));
        Assert.True(icmp.VerifyChecksum(Ip1, Ip2));
        Assert.False(Icmpv6Repr.TryParse(icmp, Ip1, Ipv6Address.Parse("2001:2::3"), out _, out var error));
        Assert.Equal(WireError.BadChecksum, error);
        icmp.Checksum = 0;
        icmp.FillChecksum(Ip1, Ip2);
        Assert.Equal(0xf921, icmp.Checksum);
    }

    [Fact]
    public void Malformed_neighbor_messages_are_refused()
    {
        // Option with length 0 (RFC 4861 §4.6: discard).
        var bytes = GoldenFrames.NeighborSolicitation[54..];
        bytes[25] = 0;
        Assert.True(Icmpv6Packet.TryCreate(bytes, out var icmp));
        icmp.FillChecksum(Ip1, Ipv6Address.Parse("ff02::1:ff00:2"));
        Assert.False(Icmpv6Repr.TryParse(icmp, Ip1, Ipv6Address.Parse("ff02::1:ff00:2"), out _, out var error));
        Assert.Equal(WireError.BadOption, error);

        // Option overrunning the message.
        bytes = GoldenFrames.NeighborSolicitation[54..];
        bytes[25] = 2;
        Assert.True(Icmpv6Packet.TryCreate(bytes, out icmp));
        Assert.False(icmp.TryGetLinkLayerAddress(NdpOptionType.SourceLinkLayerAddress, out _, out error));
        Assert.Equal(WireError.BadOption, error);

        // Multicast target (RFC 4861 §7.1.1).
        var ns = Icmpv6Repr.NeighborSolicitation(Ipv6Address.Parse("ff02::1"), null);
        var buffer = new byte[ns.BufferLength];
        ns.Emit(buffer, Ip1, Ip2);
        Assert.True(Icmpv6Packet.TryCreate(buffer, out icmp));
        Assert.False(Icmpv6Repr.TryParse(icmp, Ip1, Ip2, out _, out error));
        Assert.Equal(WireError.Unsupported, error);

        // A neighbor message needs 24 bytes before the view exists.
        Assert.False(Icmpv6Packet.TryCreate(buffer.AsSpan(0, 23), out _, out error));
        Assert.Equal(WireError.Truncated, error);
        // An echo needs only 8.
        Assert.True(Icmpv6Packet.TryCreate(GoldenFrames.Icmpv6EchoRequest.AsSpan(54, 8), out icmp));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
        {
            Icmpv6Packet.TryCreate(GoldenFrames.Icmpv6EchoRequest.AsSpan(54, 8), out var p);
            p.MessageType = Icmpv6Type.NeighborAdvertisement;
        });
        Assert.Equal(default, icmp.TargetAddress);
        Assert.Equal(0, icmp.NdpOptions.Length);
    }

    [Fact]
    public void Unsupported_types_and_codes_are_reported()
    {
        var bytes = GoldenFrames.Icmpv6EchoRequest[54..];
        Assert.True(Icmpv6Packet.TryCreate(bytes, out var icmp));
        icmp.Code = 1;
        icmp.FillChecksum(Ip1, Ip2);
        Assert.False(Icmpv6Repr.TryParse(icmp, Ip1, Ip2, out _, out var error));
        Assert.Equal(WireError.Unsupported, error);
        icmp.Code = 0;
        icmp.MessageType = Icmpv6Type.RouterSolicitation;
        icmp.FillChecksum(Ip1, Ip2);
        Assert.False(Icmpv6Repr.TryParse(icmp, Ip1, Ip2, out _, out error));
        Assert.Equal(WireError.Unsupported, error);
    }
}
