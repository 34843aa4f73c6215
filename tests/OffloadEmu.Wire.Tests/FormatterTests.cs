using FsCheck;
using FsCheck.Fluent;
using OffloadEmu.Wire.Formatting;

namespace OffloadEmu.Wire.Tests;

public class FormatterTests
{
    // Expected lines are what `tcpdump -nn -S -r` (4.99.3) printed for each golden frame written to a pcap.
    [Theory]
    [InlineData(nameof(GoldenFrames.ArpRequest), "ARP, Request who-has 198.18.200.2 tell 198.18.200.1, length 28")]
    [InlineData(nameof(GoldenFrames.FragmentationNeeded), "IP 198.18.200.2 > 198.18.200.1: ICMP 198.18.201.9 unreachable - need to frag (mtu 1280), length 36")]
    [InlineData(nameof(GoldenFrames.Ipv6FirstFragment), "IP6 2001:2::1 > 2001:2::2: frag (0|1448) ICMP6, echo request, id 20294, seq 2, length 1448")]
    [InlineData(nameof(GoldenFrames.NeighborSolicitation), "IP6 2001:2::1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has 2001:2::2, length 32")]
    [InlineData(nameof(GoldenFrames.TcpSyn), "IP 198.18.200.1.52110 > 198.18.200.2.9: Flags [S], seq 1363874279, win 64240, options [mss 1460,sackOK,TS val 1900817054 ecr 0,nop,wscale 10], length 0")]
    [InlineData(nameof(GoldenFrames.VlanTaggedEcho), "IP 198.18.200.2 > 198.18.200.1: ICMP echo request, id 7, seq 9, length 17")]
    public void Frame_ToString_matches_tcpdump(string frameName, string expected)
    {
        var bytes = (byte[])typeof(GoldenFrames).GetProperty(frameName)!.GetValue(null)!;
        Assert.True(EthernetFrame.TryCreate(bytes, out var frame));
        Assert.Equal(expected, frame.ToString());
    }

    [Fact]
    public void Link_level_header_shows_vlan_tag()
    {
        // tcpdump -e -nn printed this for the golden frame (VLAN 100, priority 5, DEI set).
        Assert.Equal(
            "02:00:5e:00:53:0b > 02:00:5e:00:53:0a, ethertype 802.1Q (0x8100), length 55: vlan 100, p 5, DEI, ethertype IPv4 (0x0800), 198.18.200.2 > 198.18.200.1: ICMP echo request, id 7, seq 9, length 17",
            new TcpdumpFormatter(linkLevelHeader: true).Format(GoldenFrames.VlanTaggedEcho));
    }

    [Fact]
    public void Relative_sequence_numbers_follow_the_conversation()
    {
        // A SYN-ACK establishes the bases; the next segment in the other direction prints relative numbers.
        var f = new TcpdumpFormatter();
        var synAck = BuildTcp(seq: 5000, ack: 1001, TcpFlags.Syn | TcpFlags.Ack, sport: 7, dport: 40000);
        var ack = BuildTcp(seq: 1001, ack: 5001, TcpFlags.Ack, sport: 40000, dport: 7, payload: 10);
        Assert.Contains("seq 5000, ack 1001", f.Format(synAck));
        Assert.Contains("seq 1:11, ack 1,", f.Format(ack));
        f.Reset();
        Assert.Contains("seq 1001:1011, ack 5001,", f.Format(ack));
    }

    [Fact]
    public void Random_and_mutated_frames_never_throw()
    {
        var f = new TcpdumpFormatter();
        var seeds = new[] { GoldenFrames.TcpSyn, GoldenFrames.Ipv6FirstFragment, GoldenFrames.VlanTaggedEcho, GoldenFrames.FragmentationNeeded, GoldenFrames.NeighborSolicitation };
        Prop.ForAll(Gen.Choose(0, seeds.Length - 1).Zip(Gen.Choose(0, 200)).Zip(Gen.Choose(0, 255)).ToArbitrary(), t =>
        {
            var ((which, pos), value) = t;
            var bytes = (byte[])seeds[which].Clone();
            bytes[pos % bytes.Length] = (byte)value;
            var cut = bytes.AsSpan(0, Math.Max(0, bytes.Length - pos % 7));
            return f.Format(cut).Length > 0;
        }).QuickCheckThrowOnFailure();
        Prop.ForAll<byte[]>(bytes => f.Format(bytes ?? []).Length > 0).QuickCheckThrowOnFailure();
    }

    private static byte[] BuildTcp(uint seq, uint ack, TcpFlags flags, ushort sport, ushort dport, int payload = 0)
    {
        var src = new Ipv4Address(198, 18, 0, 1);
        var dst = new Ipv4Address(198, 18, 0, 2);
        if (sport != 7) (src, dst) = (dst, src);
        var tcp = new TcpRepr
        {
            SourcePort = sport, DestinationPort = dport, SequenceNumber = new SeqNumber(seq),
            AckNumber = (flags & TcpFlags.Ack) != 0 ? new SeqNumber(ack) : null, Flags = flags, Window = 500, PayloadLength = payload,
        };
        var frame = new byte[14 + 20 + tcp.SegmentBufferLength];
        new EthernetRepr(MacAddress.Parse("02:00:00:00:00:01"), MacAddress.Parse("02:00:00:00:00:02"), EtherType.Ipv4).Emit(frame);
        new Ipv4Repr(src, dst, IpProtocol.Tcp, tcp.SegmentBufferLength).Emit(frame.AsSpan(14));
        tcp.Emit(frame.AsSpan(34), src, dst, new byte[payload]);
        return frame;
    }
}
