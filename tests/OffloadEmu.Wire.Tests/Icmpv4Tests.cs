namespace OffloadEmu.Wire.Tests;

public class Icmpv4Tests
{
    private static Icmpv4Repr Parse(byte[] frame, out byte[] icmpBytes)
    {
        Assert.True(EthernetFrame.TryCreate(frame, out var eth));
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip));
        icmpBytes = ip.Payload.ToArray();
        Assert.True(Icmpv4Packet.TryCreate(ip.Payload, out var icmp, out var error));
        Assert.True(Icmpv4Repr.TryParse(icmp, out var repr, out error), error.ToString());
        return repr;
    }

    [Fact]
    public void Golden_echo_request_and_reply_match_tshark()
    {
        // tshark: Type 8 (Echo (ping) request), Code 0, Checksum 0xb1a6 [correct], Identifier (BE) 20293 (0x4f45), Sequence Number (BE) 1
        var request = Parse(GoldenFrames.Icmpv4EchoRequest, out var bytes);
        Assert.Equal(Icmpv4Repr.EchoRequest(0x4f45, 1, 56), request);
        Assert.True(Icmpv4Packet.TryCreate(bytes, out var icmp));
        Assert.Equal(0xb1a6, icmp.Checksum);
        Assert.Equal(Icmpv4Type.EchoRequest, icmp.MessageType);
        Assert.Equal(0x37, icmp.Payload[^1]);

        // tshark: Type 0 (Echo (ping) reply), Checksum 0xb9a6 [correct]
        var reply = Parse(GoldenFrames.Icmpv4EchoReply, out bytes);
        Assert.Equal(Icmpv4Repr.EchoReply(0x4f45, 1, 56), reply);
        Assert.True(reply.IsEcho);

        // tshark: 802.1Q ... Echo (ping) request id=0x0007, seq=9, Checksum 0x192d [correct], Data "vlan-test"
        Assert.True(EthernetFrame.TryCreate(GoldenFrames.VlanTaggedEcho, out var eth));
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip));
        Assert.True(Icmpv4Packet.TryCreate(ip.Payload, out icmp));
        Assert.True(Icmpv4Repr.TryParse(icmp, out var vlanEcho));
        Assert.Equal(Icmpv4Repr.EchoRequest(7, 9, 9), vlanEcho);
        Assert.Equal("vlan-test"u8.ToArray(), icmp.Payload.ToArray());
    }

    [Fact]
    public void Golden_fragmentation_needed_matches_tshark()
    {
        // tshark: Type 3 (Destination unreachable), Code 4 (Fragmentation needed), Checksum 0x5783 [correct],
        // Unused 0000, MTU of next hop 1280; quoted IPv4 198.18.200.1 -> 198.18.201.9, DF, id 0x1234, TCP 40000 -> 80, Seq 1000
        var repr = Parse(GoldenFrames.FragmentationNeeded, out var bytes);
        Assert.Equal(Icmpv4Repr.FragmentationNeeded(1280, 28), repr);
        Assert.Equal(Icmpv4UnreachableCode.FragmentationNeeded, repr.UnreachableCode);
        Assert.False(repr.IsEcho);
        Assert.True(Icmpv4Packet.TryCreate(bytes, out var icmp));
        Assert.Equal(1280, icmp.NextHopMtu);
        Assert.True(icmp.TryGetQuotedHeader(out var source, out var destination, out var protocol, out var transport));
        Assert.Equal(Ipv4Address.Parse("198.18.200.1"), source);
        Assert.Equal(Ipv4Address.Parse("198.18.201.9"), destination);
        Assert.Equal(IpProtocol.Tcp, protocol);
        Assert.Equal(8, transport.Length);
        Assert.Equal(40000, (transport[0] << 8) | transport[1]);
        Assert.Equal(80, (transport[2] << 8) | transport[3]);
        Assert.Equal(1000, (transport[4] << 24) | (transport[5] << 16) | (transport[6] << 8) | transport[7]);
    }

    [Fact]
    public void Fragmentation_needed_round_trips_and_reproduces_the_golden_bytes()
    {
        var golden = GoldenFrames.FragmentationNeeded[34..];
        var repr = Icmpv4Repr.FragmentationNeeded(1280, 28);
        var buffer = new byte[repr.BufferLength];
        repr.Emit(buffer, golden.AsSpan(8));
        Assert.Equal(golden, buffer);
        Assert.True(Icmpv4Packet.TryCreate(buffer, out var icmp));
        Assert.True(Icmpv4Repr.TryParse(icmp, out var parsed));
        Assert.Equal(repr, parsed);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Echo_round_trips(bool request)
    {
        var data = new byte[] { 1, 2, 3, 4, 5 };
        var repr = request ? Icmpv4Repr.EchoRequest(0xFFFF, 0x8000, data.Length) : Icmpv4Repr.EchoReply(1, 2, data.Length);
        var buffer = new byte[repr.BufferLength];
        repr.Emit(buffer, data);
        Assert.True(Icmpv4Packet.TryCreate(buffer, out var icmp));
        Assert.True(icmp.VerifyChecksum());
        Assert.True(Icmpv4Repr.TryParse(icmp, out var parsed, out var error), error.ToString());
        Assert.Equal(repr, parsed);
        Assert.Equal(repr.GetHashCode(), parsed.GetHashCode());
        Assert.Equal(data, icmp.Payload.ToArray());
    }

    [Fact]
    public void Other_unreachable_codes_and_time_exceeded_round_trip_without_mtu()
    {
        foreach (var repr in new[]
        {
            Icmpv4Repr.DestinationUnreachable(Icmpv4UnreachableCode.PortUnreachable, 36, nextHopMtu: 999),
            Icmpv4Repr.TimeExceeded(0, 28),
        })
        {
            var buffer = new byte[repr.BufferLength];
            repr.Emit(buffer);
            Assert.Equal(0, repr.NextHopMtu);
            Assert.True(Icmpv4Packet.TryCreate(buffer, out var icmp));
            Assert.Equal(0u, icmp.RestOfHeader);
            Assert.True(Icmpv4Repr.TryParse(icmp, out var parsed));
            Assert.Equal(repr, parsed);
            // The quote is all zeros, so it is not a readable IPv4 header.
            Assert.False(icmp.TryGetQuotedHeader(out _, out _, out _, out _));
        }
    }

    [Fact]
    public void Bad_checksum_unknown_type_and_short_buffers_are_refused()
    {
        var bytes = GoldenFrames.Icmpv4EchoRequest[34..];
        bytes[^1] ^= 1;
        Assert.True(Icmpv4Packet.TryCreate(bytes, out var icmp));
        Assert.False(Icmpv4Repr.TryParse(icmp, out _, out var error));
        Assert.Equal(WireError.BadChecksum, error);
        icmp.FillChecksum();
        Assert.True(Icmpv4Repr.TryParse(icmp, out _, out error));

        icmp.MessageType = (Icmpv4Type)13; // timestamp
        icmp.FillChecksum();
        Assert.False(Icmpv4Repr.TryParse(icmp, out _, out error));
        Assert.Equal(WireError.Unsupported, error);

        for (int length = 0; length < Icmpv4Packet.HeaderLength; length++)
        {
            Assert.False(Icmpv4Packet.TryCreate(new byte[length], out _, out error));
            Assert.Equal(WireError.Truncated, error);
        }
    }

    [Theory]
    [InlineData(nameof(GoldenFrames.FragmentationNeeded))]
    [InlineData(nameof(GoldenFrames.Icmpv4EchoRequest))]
    public void Every_prefix_of_the_icmp_message_is_rejected(string name)
    {
        var icmp = Golden.Get(name)[34..];
        for (int length = 0; length < icmp.Length; length++)
        {
            var prefix = icmp[..length];
            bool ok = Icmpv4Packet.TryCreate(prefix, out var packet, out var error) && Icmpv4Repr.TryParse(packet, out _, out error);
            // A prefix that cuts the data can only pass if it happens to keep the same one's-complement sum.
            if (ok) Assert.True(InternetChecksum.IsValid(prefix));
            else Assert.NotEqual(WireError.None, error);
        }
        ParseStack.AssertEveryPrefixRejected(Golden.Get(name));
    }
}
