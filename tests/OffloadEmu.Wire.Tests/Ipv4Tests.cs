namespace OffloadEmu.Wire.Tests;

public class Ipv4Tests
{
    private static readonly Ipv4Address IpA = Ipv4Address.Parse("198.18.200.1");
    private static readonly Ipv4Address IpB = Ipv4Address.Parse("198.18.200.2");

    private static byte[] IpBytes(byte[] frame) => frame[14..];

    [Fact]
    public void Golden_echo_request_header_matches_tshark()
    {
        var bytes = IpBytes(GoldenFrames.Icmpv4EchoRequest);
        Assert.True(Ipv4Packet.TryCreate(bytes, out var ip, out var error));
        Assert.Equal(WireError.None, error);
        // tshark: Version 4, Header Length 20, DSCP CS0, ECN Not-ECT, Total Length 84, Identification 0x6424,
        // Flags 0x2 Don't fragment, Fragment Offset 0, TTL 64, Protocol ICMP, Header Checksum 0xba5b [correct]
        Assert.Equal(4, ip.Version);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(0, ip.Dscp);
        Assert.Equal(0, ip.Ecn);
        Assert.Equal(84, ip.TotalLength);
        Assert.Equal(0x6424, ip.Identification);
        Assert.True(ip.DontFragment);
        Assert.False(ip.MoreFragments);
        Assert.False(ip.IsFragment);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.Equal(64, ip.TimeToLive);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.Equal(0xba5b, ip.Checksum);
        Assert.True(ip.VerifyChecksum());
        Assert.Equal(IpA, ip.Source);
        Assert.Equal(IpB, ip.Destination);
        Assert.False(ip.HasOptions);
        Assert.Equal(64, ip.Payload.Length);

        Assert.True(Ipv4Repr.TryParse(ip, out var repr, out error));
        Assert.Equal(new Ipv4Repr(IpA, IpB, IpProtocol.Icmp, 64, 64, 0x6424, dontFragment: true), repr);
    }

    [Fact]
    public void Golden_reply_without_df_matches_tshark()
    {
        Assert.True(Ipv4Packet.TryCreate(IpBytes(GoldenFrames.Icmpv4EchoReply), out var ip));
        // tshark: Identification 0x4714, Flags 0x0, Header Checksum 0x176c [correct]
        Assert.Equal(0x4714, ip.Identification);
        Assert.False(ip.DontFragment);
        Assert.Equal(0x176c, ip.Checksum);
        Assert.True(Ipv4Repr.TryParse(ip, out var repr));
        Assert.Equal(new Ipv4Repr(IpB, IpA, IpProtocol.Icmp, 64, 64, 0x4714), repr);
    }

    [Theory]
    [InlineData(nameof(GoldenFrames.Ipv4RecordRouteRequest), 0x6425, 0x8c7c)]
    [InlineData(nameof(GoldenFrames.Ipv4RecordRouteReply), 0x4715, 0xb671)]
    public void Options_are_detected_and_reported(string name, int id, int checksum)
    {
        Assert.True(Ipv4Packet.TryCreate(IpBytes(Golden.Get(name)), out var ip));
        // tshark: Header Length 60 bytes (15), Total Length 124, Options: (40 bytes), Record Route
        Assert.True(ip.HasOptions);
        Assert.Equal(60, ip.HeaderLength);
        Assert.Equal(40, ip.OptionsLength);
        Assert.Equal(124, ip.TotalLength);
        Assert.Equal(7, ip.Options[0]);   // IP Option - Record Route
        Assert.Equal(39, ip.Options[1]);  // (39 bytes)
        Assert.Equal(id, ip.Identification);
        Assert.Equal(checksum, ip.Checksum);
        Assert.Equal(64, ip.Payload.Length);
        Assert.True(Ipv4Repr.TryParse(ip, out var repr, out var error), error.ToString());
        Assert.True(repr.HasOptions);
        Assert.Equal(40, repr.OptionsLength);
        Assert.Equal(64, repr.PayloadLength);
        // The ICMP message after the options is intact.
        Assert.True(Icmpv4Packet.TryCreate(ip.Payload, out var icmp));
        Assert.Equal(2, icmp.EchoSequence);
    }

    [Theory]
    // tshark: Identification 0x6426; Flags 0x1 More fragments / 0x0; Fragment Offset 0, 1480, 2960; Total Length 1500, 1500, 68
    [InlineData(nameof(GoldenFrames.Ipv4FirstFragment), true, 0, 1500)]
    [InlineData(nameof(GoldenFrames.Ipv4MiddleFragment), true, 1480, 1500)]
    [InlineData(nameof(GoldenFrames.Ipv4LastFragment), false, 2960, 68)]
    public void Fragments_match_tshark(string name, bool moreFragments, int offset, int totalLength)
    {
        Assert.True(Ipv4Packet.TryCreate(IpBytes(Golden.Get(name)), out var ip));
        Assert.Equal(0x6426, ip.Identification);
        Assert.Equal(moreFragments, ip.MoreFragments);
        Assert.Equal(offset, ip.FragmentOffset);
        Assert.Equal(totalLength, ip.TotalLength);
        Assert.True(ip.IsFragment);
        Assert.False(ip.DontFragment);
        Assert.True(Ipv4Repr.TryParse(ip, out var repr));
        Assert.True(repr.IsFragment);
        Assert.Equal(totalLength - 20, repr.PayloadLength);
    }

    [Fact]
    public void Trailing_ethernet_padding_is_ignored()
    {
        // A 37-byte IPv4 packet in a 55-byte frame would be padded to 60 by a real NIC.
        var padded = new byte[60];
        GoldenFrames.VlanTaggedEcho.CopyTo(padded, 0);
        padded[59] = 0xEE;
        Assert.True(ParseStack.TryParseFrame(padded, out var error), error.ToString());
        Assert.True(Ipv4Packet.TryCreate(padded.AsSpan(18), out var ip));
        Assert.Equal(37, ip.Buffer.Length);
        Assert.Equal(17, ip.Payload.Length);
    }

    [Fact]
    public void Invalid_headers_are_refused_with_their_reason()
    {
        var good = IpBytes(GoldenFrames.Icmpv4EchoRequest);

        var bytes = (byte[])good.Clone();
        bytes[0] = 0x65;
        Assert.False(Ipv4Packet.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.BadVersion, error);

        bytes = (byte[])good.Clone();
        bytes[0] = 0x44;
        Assert.False(Ipv4Packet.TryCreate(bytes, out _, out error));
        Assert.Equal(WireError.BadHeaderLength, error);

        bytes = (byte[])good.Clone();
        bytes[2] = 0; bytes[3] = 19; // Total Length below the header
        Assert.False(Ipv4Packet.TryCreate(bytes, out _, out error));
        Assert.Equal(WireError.BadLength, error);

        bytes = (byte[])good.Clone();
        bytes[3] = 85; // Total Length one past the buffer
        Assert.False(Ipv4Packet.TryCreate(bytes, out _, out error));
        Assert.Equal(WireError.Truncated, error);

        bytes = (byte[])good.Clone();
        bytes[0] = 0x4F; // IHL 15 (60 bytes) with a Total Length of 40
        bytes[2] = 0; bytes[3] = 40;
        Assert.False(Ipv4Packet.TryCreate(bytes, out _, out error));
        Assert.Equal(WireError.BadLength, error);

        bytes = (byte[])good.Clone();
        bytes[8] = 63; // TTL changed without fixing the checksum
        Assert.True(Ipv4Packet.TryCreate(bytes, out var ip));
        Assert.False(ip.VerifyChecksum());
        Assert.False(Ipv4Repr.TryParse(ip, out _, out error));
        Assert.Equal(WireError.BadChecksum, error);
        Assert.True(Ipv4Repr.TryParse(ip, verifyChecksum: false, out _, out _));
        ip.FillChecksum();
        Assert.True(Ipv4Repr.TryParse(ip, out _, out _));
    }

    [Fact]
    public void FillChecksum_reproduces_the_kernel_checksum()
    {
        var bytes = IpBytes(GoldenFrames.Ipv4RecordRouteRequest);
        Assert.True(Ipv4Packet.TryCreate(bytes, out var ip));
        ip.Checksum = 0;
        ip.FillChecksum();
        Assert.Equal(0x8c7c, ip.Checksum);
    }

    [Fact]
    public void Emit_reproduces_the_kernel_header()
    {
        var repr = new Ipv4Repr(IpA, IpB, IpProtocol.Icmp, 64, 64, 0x6424, dontFragment: true);
        var buffer = new byte[repr.BufferLength];
        repr.Emit(buffer);
        Assert.Equal(IpBytes(GoldenFrames.Icmpv4EchoRequest)[..20], buffer);
    }

    [Theory]
    [InlineData(true, false, 0, (byte)46, (byte)1)]
    [InlineData(false, true, 1480, (byte)0, (byte)3)]
    [InlineData(false, false, 65528, (byte)63, (byte)2)]
    public void Repr_round_trips(bool df, bool mf, int offset, byte dscp, byte ecn)
    {
        var repr = new Ipv4Repr(IpB, IpA, IpProtocol.Tcp, 12, 17, 0xBEEF, df, mf, offset, dscp, ecn);
        var buffer = new byte[repr.BufferLength + repr.PayloadLength + 6];
        repr.Emit(buffer);
        Assert.True(Ipv4Packet.TryCreate(buffer, out var ip));
        Assert.Equal(32, ip.Buffer.Length);
        Assert.True(Ipv4Repr.TryParse(ip, out var parsed, out var error), error.ToString());
        Assert.Equal(repr, parsed);
        Assert.Equal(repr.GetHashCode(), parsed.GetHashCode());
        Assert.Equal(df, ip.DontFragment);
        Assert.Equal(dscp, ip.Dscp);
        Assert.Equal(ecn, ip.Ecn);
    }

    [Fact]
    public void Setters_write_fields_and_guard_lengths()
    {
        var bytes = IpBytes(GoldenFrames.Icmpv4EchoRequest);
        Assert.True(Ipv4Packet.TryCreate(bytes, out var ip));
        ip.Dscp = 46; ip.Ecn = 2; ip.DontFragment = false; ip.MoreFragments = true; ip.FragmentOffset = 8;
        ip.TimeToLive = 1; ip.Identification = 7; ip.Source = IpB; ip.Destination = IpA; ip.Protocol = IpProtocol.Udp;
        ip.TotalLength = 40;
        ip.FillChecksum();
        Assert.True(Ipv4Repr.TryParse(ip, out var repr));
        Assert.Equal(new Ipv4Repr(IpB, IpA, IpProtocol.Udp, 20, 1, 7, false, true, 8, 46, 2), repr);
        Assert.Equal(20, ip.Payload.Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => { Ipv4Packet.TryCreate(bytes, out var p); p.TotalLength = 85; });
        Assert.Throws<ArgumentOutOfRangeException>(() => { Ipv4Packet.TryCreate(bytes, out var p); p.FragmentOffset = 3; });
        Assert.Throws<ArgumentOutOfRangeException>(() => { Ipv4Packet.TryCreate(bytes, out var p); p.HeaderLength = 64; });
    }

    [Theory]
    [InlineData(nameof(GoldenFrames.Icmpv4EchoRequest))]
    [InlineData(nameof(GoldenFrames.Icmpv4EchoReply))]
    [InlineData(nameof(GoldenFrames.Ipv4RecordRouteRequest))]
    [InlineData(nameof(GoldenFrames.Ipv4RecordRouteReply))]
    [InlineData(nameof(GoldenFrames.Ipv4FirstFragment))]
    [InlineData(nameof(GoldenFrames.Ipv4MiddleFragment))]
    [InlineData(nameof(GoldenFrames.Ipv4LastFragment))]
    [InlineData(nameof(GoldenFrames.TcpSyn))]
    public void Every_prefix_is_rejected(string name) => ParseStack.AssertEveryPrefixRejected(Golden.Get(name));
}
