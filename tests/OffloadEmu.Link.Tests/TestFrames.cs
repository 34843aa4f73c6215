using System.Buffers.Binary;
using OffloadEmu.Wire;

namespace OffloadEmu.Link.Tests;

/// <summary>Hand-built, fully valid frames (addresses from 198.18.0.0/15) so tshark decodes them cleanly.</summary>
internal static class TestFrames
{
    public const int EthernetHeader = 14;
    public const int Ipv4Header = 20;

    /// <summary>Ethernet + IPv4 + ICMP echo request with <paramref name="payloadLength"/> bytes; <paramref name="id"/> goes in the ICMP sequence and the payload.</summary>
    public static byte[] IcmpEcho(int id, int payloadLength = 32, bool reply = false)
    {
        int icmpLength = 8 + payloadLength;
        var f = new byte[EthernetHeader + Ipv4Header + icmpLength];
        WriteEthernet(f, reply);
        WriteIpv4(f.AsSpan(EthernetHeader), 1, Ipv4Header + icmpLength, (ushort)id, reply);
        var icmp = f.AsSpan(EthernetHeader + Ipv4Header);
        icmp[0] = reply ? (byte)0 : (byte)8;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[4..], 0x4f45);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], (ushort)id);
        for (int i = 0; i < payloadLength; i++) icmp[8 + i] = (byte)(id + i);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], InternetChecksum.Compute(icmp));
        return f;
    }

    /// <summary>Ethernet + IPv4 + UDP to port 9 (discard) with a correct checksum.</summary>
    public static byte[] Udp(int id, int payloadLength = 64)
    {
        int udpLength = 8 + payloadLength;
        var f = new byte[EthernetHeader + Ipv4Header + udpLength];
        WriteEthernet(f, reply: false);
        WriteIpv4(f.AsSpan(EthernetHeader), 17, Ipv4Header + udpLength, (ushort)id, reply: false);
        var udp = f.AsSpan(EthernetHeader + Ipv4Header);
        BinaryPrimitives.WriteUInt16BigEndian(udp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], 9);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udpLength);
        for (int i = 0; i < payloadLength; i++) udp[8 + i] = (byte)(id * 7 + i);
        ulong sum = InternetChecksum.PseudoHeader(Source(false), Destination(false), IpProtocol.Udp, udpLength);
        ushort c = InternetChecksum.Finish(InternetChecksum.Accumulate(udp, sum));
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], c == 0 ? (ushort)0xFFFF : c);
        return f;
    }

    /// <summary>True when the IPv4 header checksum and the ICMP checksum of an <see cref="IcmpEcho"/> frame both verify.</summary>
    public static bool IcmpChecksumsValid(ReadOnlySpan<byte> frame)
        => InternetChecksum.IsValid(frame.Slice(EthernetHeader, Ipv4Header))
           && InternetChecksum.IsValid(frame[(EthernetHeader + Ipv4Header)..]);

    /// <summary>The ICMP sequence number, used as a frame id.</summary>
    public static int Id(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt16BigEndian(frame[(EthernetHeader + Ipv4Header + 6)..]);

    private static Ipv4Address Source(bool reply) => Ipv4Address.Parse(reply ? "198.18.0.2" : "198.18.0.1");
    private static Ipv4Address Destination(bool reply) => Ipv4Address.Parse(reply ? "198.18.0.1" : "198.18.0.2");

    private static void WriteEthernet(Span<byte> f, bool reply)
    {
        var a = MacAddress.Parse("02:00:00:00:00:01");
        var b = MacAddress.Parse("02:00:00:00:00:02");
        (reply ? a : b).Write(f);
        (reply ? b : a).Write(f[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(f[12..], 0x0800);
    }

    private static void WriteIpv4(Span<byte> ip, byte protocol, int totalLength, ushort identification, bool reply)
    {
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], identification);
        ip[6] = 0x40; // DF
        ip[8] = 64;
        ip[9] = protocol;
        Source(reply).Write(ip[12..]);
        Destination(reply).Write(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Compute(ip[..Ipv4Header]));
    }
}
