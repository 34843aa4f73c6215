namespace OffloadEmu.Wire.Tests;

/// <summary>
/// Ethernet frames captured from the real Linux kernel (and from scapy for crafted cases), embedded as hex.
/// </summary>
/// <remarks>
/// How they were made: namespaces oe-t-tcpa / oe-t-tcpb joined by a veth pair (oe-tcpa0 02:00:c6:12:c9:01,
/// oe-tcpb0 02:00:c6:12:c9:02), <c>ethtool -K tx off tso off gso off gro off</c> on both ends so the captured checksums
/// are final, addresses 198.18.201.1/24 and .2, 2001:2:0:1::1/64 and ::2; captured with <c>tcpdump -w</c> on oe-tcpb0.
/// "Linux client/listener" frames: <c>socat -u TCP4-LISTEN:5001 OPEN:file</c> in b, <c>printf … | socat -u - TCP4:198.18.201.2:5001</c>
/// in a (and TCP6). SACK frames: scapy in namespace a playing the unassigned peer 198.18.201.3 / 2001:2:0:1::3 (b had a
/// permanent neighbour entry for it) did a handshake with the b listener (mss 1460,sackOK,TS val 100,nop,wscale 7, ISN 1000),
/// then sent 1101:1201 and 1301:1401 over a hole at 1001, to which Linux answered with SACK-bearing dup ACKs.
/// Crafted frames: TCP headers packed by hand with exact option bytes, sent by scapy from .1 to closed port 5999 on .2.
/// Every frame was checked with <c>tshark -o tcp.check_checksum:TRUE -V</c>: all good except CraftedBadChecksum. The field
/// values asserted in <see cref="TcpGoldenFrameTests"/> are tshark's. TcpGoldenCaptures/capture.sh (with sack.py and
/// crafted.py) redoes all of it as root and removes its namespaces; the crafted frames come out byte-identical, the
/// kernel ones differ only in ISNs, ports and timestamps.
/// </remarks>
internal static class TcpGoldenFrames
{
    /// <summary>Ethernet (14) + IPv4 without options (20).</summary>
    public const int Ipv4TcpOffset = 34;

    /// <summary>Ethernet (14) + IPv6 without extension headers (40).</summary>
    public const int Ipv6TcpOffset = 54;

    public static readonly Ipv4Address V4A = new(198, 18, 201, 1);
    public static readonly Ipv4Address V4B = new(198, 18, 201, 2);
    public static readonly Ipv4Address V4Scapy = new(198, 18, 201, 3);
    public static readonly Ipv6Address V6A = Ipv6Address.Parse("2001:2:0:1::1");
    public static readonly Ipv6Address V6B = Ipv6Address.Parse("2001:2:0:1::2");

    public static byte[] Frame(string hex) => Convert.FromHexString(hex);

    /// <summary>The TCP segment of an IPv4 frame (bounded by the IPv4 total length, so Ethernet padding is excluded).</summary>
    public static byte[] Ipv4Segment(string hex)
    {
        var f = Frame(hex);
        int total = (f[16] << 8) | f[17];
        return f[Ipv4TcpOffset..(14 + total)];
    }

    /// <summary>The TCP segment of an IPv6 frame (bounded by the payload length).</summary>
    public static byte[] Ipv6Segment(string hex)
    {
        var f = Frame(hex);
        int payload = (f[18] << 8) | f[19];
        return f[Ipv6TcpOffset..(Ipv6TcpOffset + payload)];
    }

    /// <summary>Linux client SYN (socat TCP4 198.18.201.1 -> 198.18.201.2:5001): mss 1460,sackOK,TS,nop,wscale 10.</summary>
    public const string V4Syn =
        "0200c612c9020200c612c90108004500003c0224400040061a6fc612c901c612c902e2c613895ba016a700000000a002" +
        "faf01cfc0000020405b40402080a16b5929a000000000103030a";

    /// <summary>Linux listener SYN-ACK to V4Syn.</summary>
    public const string V4SynAck =
        "0200c612c9010200c612c90208004500003c0000400040061c93c612c902c612c9011389e2c66b45d1d95ba016a8a012" +
        "fe88c8ca0000020405b40402080a8eea847e16b5929a0103030a";

    /// <summary>Linux client data segment [P.] with nop,nop,TS and 30 bytes of payload.</summary>
    public const string V4Data =
        "0200c612c9020200c612c9010800450000520226400040061a57c612c901c612c902e2c613895ba016a86b45d1da8018" +
        "003fc94500000101080a16b5929a8eea847e68656c6c6f2066726f6d20746865206b65726e656c206f7665722076340a";

    /// <summary>Linux client FIN [F.] with nop,nop,TS.</summary>
    public const string V4Fin =
        "0200c612c9020200c612c9010800450000340227400040061a74c612c901c612c902e2c613895ba016c66b45d1da8011" +
        "003ff5c400000101080a16b5929a8eea847e";

    /// <summary>Linux dup ACK carrying nop,nop,TS,nop,nop,sack 1 {1101:1201}, provoked by scapy (as unassigned 198.18.201.3) sending seq 1101:1201 over a hole.</summary>
    public const string V4Sack1 =
        "0200c612c9010200c612c9020800450000400cc7400040060fc6c612c902c612c90313899c4137a27f55000003e9b010" +
        "0040901900000101080af84f25c3000000650101050a0000044d000004b1";

    /// <summary>Linux dup ACK carrying sack 2 {1301:1401}{1101:1201} (most recent block first, RFC 2018 section 4).</summary>
    public const string V4Sack2 =
        "0200c612c9010200c612c9020800450000480cc8400040060fbdc612c902c612c90313899c4137a27f55000003e9d010" +
        "0040655c00000101080af84f25e2000000650101051200000515000005790000044d000004b1";

    /// <summary>scapy RST [R.] without options (data offset 5).</summary>
    public const string V4Rst =
        "0200c612c9020200c612c9010800450000280001000040065ca4c612c903c612c9029c411389000004b137a27f555014" +
        "000026320000";

    /// <summary>Linux client SYN over IPv6 (2001:2:0:1::1 -> ::2 port 5001): mss 1440,sackOK,TS,nop,wscale 10.</summary>
    public const string V6Syn =
        "0200c612c9020200c612c90186dd600ab148002806402001000200000001000000000000000120010002000000010000" +
        "000000000002e3721389f6fb97a000000000a002fd2098790000020405a00402080a02eee9e5000000000103030a";

    /// <summary>Linux client IPv6 data segment with 30 bytes of payload.</summary>
    public const string V6Data =
        "0200c612c9020200c612c90186dd600ab148003e06402001000200000001000000000000000120010002000000010000" +
        "000000000002e3721389f6fb97a108d0982080180040954400000101080a02eee9e5e5b4797d68656c6c6f2066726f6d" +
        "20746865206b65726e656c206f7665722076360a";

    /// <summary>Linux listener IPv6 FIN [F.].</summary>
    public const string V6FinAck =
        "0200c612c9010200c612c90286dd600d8b0d002006402001000200000001000000000000000220010002000000010000" +
        "0000000000011389e37208d09820f6fb97c08011003fc3c300000101080ae5b4797d02eee9e5";

    /// <summary>Linux IPv6 dup ACK carrying sack 2 {1301:1401}{1101:1201}.</summary>
    public const string V6Sack2 =
        "0200c612c9010200c612c90286dd60007fac003406402001000200000001000000000000000220010002000000010000" +
        "00000000000313899c41e3507fc4000003e9d010003f35e800000101080a00f27eb60000006501010512000005150000" +
        "05790000044d000004b1";

    /// <summary>SYN, options nop,kind 30 len 4 (MPTCP, unknown to us),mss 1460 at odd offset 5,kind 253 len 6 0xdeadbeef,nop,nop,eol,eol pad.</summary>
    public const string CraftedUnknownOptions =
        "0200c612c9020200c612c90108004500003c1001400040060c92c612c901c612c9029ca5176f01020304fffffff0a002" +
        "123446f80000011e04abcd020405b4fd06deadbeef0101000000";

    /// <summary>[P.] nop,nop,TS val 1 ecr 2,eol then bytes 99 02 00 77 55 00 after the EOL (must be ignored), payload "hi".</summary>
    public const string CraftedEolThenGarbage =
        "0200c612c9020200c612c90108004500003e1002400040060c8fc612c901c612c9029ca6176f01020304fffffff0a018" +
        "12348be600000101080a000000010000000200990200775500006869";

    /// <summary>nop, kind 30 with length 0 (illegal, MUST-7).</summary>
    public const string CraftedOptionLengthZero =
        "0200c612c9020200c612c90108004500002c1003400040060ca0c612c901c612c9029ca7176f01020304fffffff06010" +
        "1234b6470000011e0000";

    /// <summary>nop,nop,nop, then kind 5 (SACK) with length 1 (illegal).</summary>
    public const string CraftedOptionLengthOne =
        "0200c612c9020200c612c9010800450000301004400040060c9bc612c901c612c9029ca8176f01020304fffffff07010" +
        "1234a45a00000101010501000000";

    /// <summary>nop,nop,kind 8 length 10 but only 6 bytes of header left (overrun).</summary>
    public const string CraftedOptionOverrun =
        "0200c612c9020200c612c9010800450000301005400040060c9ac612c901c612c9029ca9176f01020304fffffff07010" +
        "12349e5300000101080a00000001";

    /// <summary>SYN with kind 2 length 3 (MSS must be 4).</summary>
    public const string CraftedMssWrongLength =
        "0200c612c9020200c612c90108004500002c1006400040060c9dc612c901c612c9029caa176f01020304fffffff06002" +
        "1234b06c000002030501";

    /// <summary>wscale 14 then sack with 4 blocks starting at odd offset 3 (MUST-64), first block wraps 0xfffffff0..0x10, eol padding.</summary>
    public const string CraftedFourSackBlocks =
        "0200c612c9020200c612c9010800450000501007400040060c78c612c901c612c9029cab176f01020304fffffff0f010" +
        "1234bf2c000003030e0522fffffff00000001000000064000000c80000012c00000190000001f400000258000000";

    /// <summary>[P.] nop,nop,TS val 5 ecr 6, 7 bytes payload, checksum 0x8b59 (tshark: incorrect, should be 0xd103).</summary>
    public const string CraftedBadChecksum =
        "0200c612c9020200c612c90108004500003b1008400040060c8cc612c901c612c9029cac176f01020304fffffff08018" +
        "12348b5900000101080a00000005000000067061796c6f6164";

    /// <summary>No options, flags FSRPAUEC + NS (0x100) and reserved bits 0b101, urgent pointer 1, payload "u".</summary>
    public const string CraftedAllFlags =
        "0200c612c9020200c612c9010800450000291009400040060c9dc612c901c612c9029cad176f01020304fffffff05bff" +
        "12344672000175";

    /// <summary>SYN sackOK,wscale 7,kind 99 len 2 (no data),nop,nop,nop,eol.</summary>
    public const string CraftedSackPermWsUnknownEmpty =
        "0200c612c9020200c612c901080045000034100a400040060c91c612c901c612c9029cae176f01020304fffffff08002" +
        "123485fa0000040203030763020101010000";

}
