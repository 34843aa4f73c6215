namespace OffloadEmu.Wire.Tests;

public class Ipv6Tests
{
    private static readonly Ipv6Address Ip1 = Ipv6Address.Parse("2001:2::1");
    private static readonly Ipv6Address Ip2 = Ipv6Address.Parse("2001:2::2");

    private static byte[] IpBytes(byte[] frame) => frame[14..];

    [Fact]
    public void Golden_echo_request_header_matches_tshark()
    {
        Assert.True(Ipv6Packet.TryCreate(IpBytes(GoldenFrames.Icmpv6EchoRequest), out var ip, out var error));
        Assert.Equal(WireError.None, error);
        // tshark: Version 6, Traffic Class 0x00, Flow Label 0xd2a7d, Payload Length 64, Next Header ICMPv6 (58),
        // Hop Limit 64, Src 2001:2::1, Dst 2001:2::2
        Assert.Equal(6, ip.Version);
        Assert.Equal(0, ip.TrafficClass);
        Assert.Equal(0xd2a7du, ip.FlowLabel);
        Assert.Equal(64, ip.PayloadLength);
        Assert.Equal(IpProtocol.Icmpv6, ip.NextHeader);
        Assert.Equal(64, ip.HopLimit);
        Assert.Equal(Ip1, ip.Source);
        Assert.Equal(Ip2, ip.Destination);
        Assert.Equal(IpProtocol.Icmpv6, ip.UpperLayerProtocol);
        Assert.Equal(40, ip.UpperLayerOffset);
        Assert.Equal(0, ip.ExtensionHeadersLength);
        Assert.False(ip.HasFragmentHeader);
        Assert.False(ip.IsFragment);
        Assert.Equal(64, ip.UpperLayerPayload.Length);
        Assert.True(Ipv6Repr.TryParse(ip, out var repr));
        Assert.Equal(new Ipv6Repr(Ip1, Ip2, IpProtocol.Icmpv6, 64, 64, 0, 0xd2a7d), repr);
    }

    [Fact]
    public void Golden_first_fragment_matches_tshark()
    {
        Assert.True(Ipv6Packet.TryCreate(IpBytes(GoldenFrames.Ipv6FirstFragment), out var ip));
        // tshark: Payload Length 1456, Next Header: Fragment Header for IPv6 (44); Fragment Header: Next header ICMPv6 (58),
        // Offset 0, More Fragments: Yes, Identification 0x7f83da82
        Assert.Equal(1456, ip.PayloadLength);
        Assert.Equal(IpProtocol.Ipv6Fragment, ip.NextHeader);
        Assert.True(ip.HasFragmentHeader);
        Assert.True(ip.IsFragment);
        Assert.Equal(40, ip.FragmentHeaderOffset);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.True(ip.MoreFragments);
        Assert.Equal(0x7f83da82u, ip.FragmentIdentification);
        Assert.Equal(IpProtocol.Icmpv6, ip.UpperLayerProtocol);
        Assert.Equal(48, ip.UpperLayerOffset);
        Assert.Equal(1448, ip.UpperLayerPayload.Length);
        Assert.True(Ipv6FragmentHeader.TryParse(ip, out var frag));
        Assert.Equal(new Ipv6FragmentHeader(IpProtocol.Icmpv6, 0, true, 0x7f83da82), frag);
        // The first fragment still starts with the echo request header.
        Assert.Equal((byte)Icmpv6Type.EchoRequest, ip.UpperLayerPayload[0]);
    }

    [Fact]
    public void Golden_last_fragment_matches_tshark()
    {
        Assert.True(Ipv6Packet.TryCreate(IpBytes(GoldenFrames.Ipv6LastFragment), out var ip));
        // tshark: Payload Length 120, Offset 2896, More Fragments: No, Identification 0x7f83da82
        Assert.Equal(120, ip.PayloadLength);
        Assert.Equal(2896, ip.FragmentOffset);
        Assert.False(ip.MoreFragments);
        Assert.True(ip.IsFragment);
        Assert.Equal(0x7f83da82u, ip.FragmentIdentification);
        Assert.Equal(112, ip.UpperLayerPayload.Length);
    }

    [Fact]
    public void Round_trip_with_hop_by_hop_and_fragment_headers_before_icmpv6()
    {
        var echo = Icmpv6Repr.EchoRequest(0x1234, 5, 4);
        int hbhLength = 16;
        var frag = new Ipv6FragmentHeader(IpProtocol.Icmpv6, 0, true, 0xCAFEF00D);
        var ipRepr = new Ipv6Repr(Ip2, Ip1, IpProtocol.HopByHop, hbhLength + frag.BufferLength + echo.BufferLength, 255, 0xB8, 0x12345);
        var buffer = new byte[ipRepr.BufferLength + ipRepr.PayloadLength];
        ipRepr.Emit(buffer);
        int offset = ipRepr.BufferLength;
        offset += Ipv6OptionsHeader.EmitPadding(buffer.AsSpan(offset), IpProtocol.Ipv6Fragment, hbhLength);
        frag.Emit(buffer.AsSpan(offset));
        offset += frag.BufferLength;
        echo.Emit(buffer.AsSpan(offset), Ip2, Ip1, "ping"u8);

        Assert.True(Ipv6Packet.TryCreate(buffer, out var ip, out var error), error.ToString());
        Assert.Equal(IpProtocol.Icmpv6, ip.UpperLayerProtocol);
        Assert.Equal(40 + 16 + 8, ip.UpperLayerOffset);
        Assert.Equal(24, ip.ExtensionHeadersLength);
        Assert.Equal(40 + 16, ip.FragmentHeaderOffset);
        Assert.True(Ipv6Repr.TryParse(ip, out var parsedIp));
        Assert.Equal(ipRepr, parsedIp);
        Assert.Equal(0xB8 >> 2, ip.Dscp);
        Assert.True(Ipv6FragmentHeader.TryParse(ip, out var parsedFrag));
        Assert.Equal(frag, parsedFrag);
        Assert.True(Icmpv6Packet.TryCreate(ip.UpperLayerPayload, out var icmp));
        Assert.True(Icmpv6Repr.TryParse(icmp, Ip2, Ip1, out var parsedEcho, out error), error.ToString());
        Assert.Equal(echo, parsedEcho);
        Assert.Equal("ping"u8.ToArray(), icmp.Payload.ToArray());
    }

    [Fact]
    public void Emit_reproduces_the_kernel_header()
    {
        var repr = new Ipv6Repr(Ip2, Ip1, IpProtocol.Icmpv6, 64, 64, 0, 0x0251d);
        var buffer = new byte[40];
        repr.Emit(buffer);
        Assert.Equal(IpBytes(GoldenFrames.Icmpv6EchoReply)[..40], buffer);
    }

    [Fact]
    public void Extension_walk_errors_are_reported_not_thrown()
    {
        // Destination options header claiming 16 bytes in an 8-byte payload.
        var buffer = new byte[48];
        new Ipv6Repr(Ip1, Ip2, IpProtocol.Ipv6Options, 8).Emit(buffer);
        buffer[40] = (byte)IpProtocol.Tcp;
        buffer[41] = 1;
        Assert.False(Ipv6Packet.TryCreate(buffer, out _, out var error));
        Assert.Equal(WireError.Truncated, error);

        // An extension header starting at the very end of the payload.
        buffer = new byte[44];
        new Ipv6Repr(Ip1, Ip2, IpProtocol.Ipv6Route, 4).Emit(buffer);
        Assert.False(Ipv6Packet.TryCreate(buffer, out _, out error));
        Assert.Equal(WireError.Truncated, error);

        // Hop-by-hop after a destination options header (RFC 8200 §4.3).
        buffer = new byte[56];
        new Ipv6Repr(Ip1, Ip2, IpProtocol.Ipv6Options, 16).Emit(buffer);
        Ipv6OptionsHeader.EmitPadding(buffer.AsSpan(40), IpProtocol.HopByHop, 8);
        Ipv6OptionsHeader.EmitPadding(buffer.AsSpan(48), IpProtocol.Tcp, 8);
        Assert.False(Ipv6Packet.TryCreate(buffer, out _, out error));
        Assert.Equal(WireError.BadOption, error);

        // A chain of nine destination-options headers exceeds the bound.
        buffer = new byte[40 + 9 * 8];
        new Ipv6Repr(Ip1, Ip2, IpProtocol.Ipv6Options, 9 * 8).Emit(buffer);
        for (int i = 0; i < 9; i++)
            Ipv6OptionsHeader.EmitPadding(buffer.AsSpan(40 + 8 * i), i == 8 ? IpProtocol.Tcp : IpProtocol.Ipv6Options, 8);
        Assert.False(Ipv6Packet.TryCreate(buffer, out _, out error));
        Assert.Equal(WireError.Unsupported, error);
        // ... while eight are accepted.
        buffer = buffer[..(40 + 8 * 8)];
        new Ipv6Repr(Ip1, Ip2, IpProtocol.Ipv6Options, 8 * 8).Emit(buffer);
        buffer[40 + 7 * 8] = (byte)IpProtocol.Tcp;
        Assert.True(Ipv6Packet.TryCreate(buffer, out var ip, out error), error.ToString());
        Assert.Equal(IpProtocol.Tcp, ip.UpperLayerProtocol);
        Assert.Equal(104, ip.UpperLayerOffset);
        Assert.Equal(0, ip.UpperLayerPayload.Length);
    }

    [Fact]
    public void Walk_stops_after_the_fragment_header_of_a_non_first_fragment()
    {
        // The fragment header names destination options, but at offset 8 the bytes after it are fragment data
        // (here bytes that would read as a header claiming 2 KiB, which would overrun).
        var buffer = new byte[40 + 8 + 16];
        new Ipv6Repr(Ip1, Ip2, IpProtocol.Ipv6Fragment, 24).Emit(buffer);
        new Ipv6FragmentHeader(IpProtocol.Ipv6Options, 8, false, 42).Emit(buffer.AsSpan(40));
        buffer[48] = (byte)IpProtocol.Tcp;
        buffer[49] = 255;
        Assert.True(Ipv6Packet.TryCreate(buffer, out var ip, out var error), error.ToString());
        Assert.Equal(IpProtocol.Ipv6Options, ip.UpperLayerProtocol);
        Assert.Equal(48, ip.UpperLayerOffset);
        Assert.Equal(8, ip.FragmentOffset);
        Assert.True(ip.IsFragment);

        // The same bytes as a first fragment are walked, and the overrun is reported.
        new Ipv6FragmentHeader(IpProtocol.Ipv6Options, 0, true, 42).Emit(buffer.AsSpan(40));
        Assert.False(Ipv6Packet.TryCreate(buffer, out _, out error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void Authentication_header_length_is_in_32_bit_words()
    {
        // AH with Payload Len 4 = (4 + 2) * 4 = 24 bytes, then TCP.
        var buffer = new byte[40 + 24 + 20];
        new Ipv6Repr(Ip1, Ip2, IpProtocol.Ah, 44).Emit(buffer);
        buffer[40] = (byte)IpProtocol.Tcp;
        buffer[41] = 4;
        Assert.True(Ipv6Packet.TryCreate(buffer, out var ip, out var error), error.ToString());
        Assert.Equal(IpProtocol.Tcp, ip.UpperLayerProtocol);
        Assert.Equal(64, ip.UpperLayerOffset);
    }

    [Fact]
    public void Invalid_fixed_headers_are_refused()
    {
        var bytes = IpBytes(GoldenFrames.Icmpv6EchoRequest);
        bytes[0] = 0x45;
        Assert.False(Ipv6Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.BadVersion, error);

        bytes = IpBytes(GoldenFrames.Icmpv6EchoRequest);
        bytes[5]++; // Payload Length one past the buffer
        Assert.False(Ipv6Packet.TryCreate(bytes, out _, out error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void Trailing_bytes_are_ignored_and_setters_write_through()
    {
        var bytes = new byte[120];
        GoldenFrames.Icmpv6EchoRequest.AsSpan(14).CopyTo(bytes);
        Assert.True(Ipv6Packet.TryCreate(bytes, out var ip));
        Assert.Equal(104, ip.Buffer.Length);
        ip.TrafficClass = 0xB9;
        ip.FlowLabel = 0xFFFFF;
        ip.HopLimit = 1;
        Assert.Equal(0xB9, ip.TrafficClass);
        Assert.Equal(0xFFFFFu, ip.FlowLabel);
        Assert.Equal(6, ip.Version);
        Assert.Equal(1, ip.HopLimit);
        Assert.Throws<ArgumentOutOfRangeException>(() => { Ipv6Packet.TryCreate(bytes, out var p); p.FlowLabel = 0x100000; });
        Assert.Throws<ArgumentOutOfRangeException>(() => { Ipv6Packet.TryCreate(bytes, out var p); p.PayloadLength = 65; });
    }

    [Theory]
    [InlineData(nameof(GoldenFrames.Icmpv6EchoRequest))]
    [InlineData(nameof(GoldenFrames.Icmpv6EchoReply))]
    [InlineData(nameof(GoldenFrames.Ipv6FirstFragment))]
    [InlineData(nameof(GoldenFrames.Ipv6LastFragment))]
    [InlineData(nameof(GoldenFrames.NeighborSolicitation))]
    [InlineData(nameof(GoldenFrames.NeighborAdvertisement))]
    [InlineData(nameof(GoldenFrames.PacketTooBig))]
    public void Every_prefix_is_rejected(string name) => ParseStack.AssertEveryPrefixRejected(Golden.Get(name));
}
