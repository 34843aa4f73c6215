using System.Buffers.Binary;
using OffloadEmu.Wire;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// Hand-built ARP and ICMP frames for the device tests (the Wire views are written in parallel, so
/// the tests do not depend on them). Offsets follow RFC 826, RFC 791 and RFC 792.
/// </summary>
internal static class TestFrames
{
    internal const ushort EtherTypeIpv4 = 0x0800;
    internal const ushort EtherTypeArp = 0x0806;

    /// <summary>An ARP request (who-has <paramref name="targetIp"/> tell <paramref name="senderIp"/>), padded to 60 bytes.</summary>
    internal static int ArpRequest(Span<byte> f, MacAddress senderMac, Ipv4Address senderIp, Ipv4Address targetIp)
    {
        f[..60].Clear();
        MacAddress.Broadcast.Write(f);
        senderMac.Write(f[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(f[12..], EtherTypeArp);
        var a = f[14..];
        BinaryPrimitives.WriteUInt16BigEndian(a, 1);          // htype Ethernet
        BinaryPrimitives.WriteUInt16BigEndian(a[2..], 0x0800); // ptype IPv4
        a[4] = 6; a[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(a[6..], 1);      // request
        senderMac.Write(a[8..]);
        senderIp.Write(a[14..]);
        MacAddress.Zero.Write(a[18..]);
        targetIp.Write(a[24..]);
        return 60;
    }

    /// <summary>An ARP reply (<paramref name="senderIp"/> is-at <paramref name="senderMac"/>) to a requester.</summary>
    internal static int ArpReply(Span<byte> f, MacAddress senderMac, Ipv4Address senderIp, MacAddress targetMac, Ipv4Address targetIp)
    {
        ArpRequest(f, senderMac, senderIp, targetIp);
        targetMac.Write(f);
        BinaryPrimitives.WriteUInt16BigEndian(f[20..], 2);
        targetMac.Write(f[32..]);
        return 60;
    }

    /// <summary>An ICMP echo request with a 32-byte deterministic payload, all checksums filled in.</summary>
    internal static int EchoRequest(Span<byte> f, MacAddress src, MacAddress dst, Ipv4Address srcIp, Ipv4Address dstIp, ushort id, ushort seq)
    {
        const int payload = 32;
        int ipLength = 20 + 8 + payload;
        dst.Write(f);
        src.Write(f[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(f[12..], EtherTypeIpv4);
        var ip = f.Slice(14, ipLength);
        ip[0] = 0x45; ip[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)ipLength);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], seq);     // identification
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000);  // DF
        ip[8] = 64; ip[9] = 1;                                   // TTL, ICMP
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], 0);
        srcIp.Write(ip[12..]);
        dstIp.Write(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Compute(ip[..20]));
        var icmp = ip[20..];
        icmp[0] = 8; icmp[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[4..], id);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], seq);
        for (int i = 0; i < payload; i++) icmp[8 + i] = (byte)('a' + i % 26);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], InternetChecksum.Compute(icmp));
        return 14 + ipLength;
    }

    internal static ushort EtherType(ReadOnlySpan<byte> f) => f.Length >= 14 ? BinaryPrimitives.ReadUInt16BigEndian(f[12..]) : (ushort)0;

    /// <summary>ARP fields: opcode, sender MAC/IP, target MAC/IP.</summary>
    internal static (ushort Op, MacAddress Sha, Ipv4Address Spa, MacAddress Tha, Ipv4Address Tpa) ParseArp(ReadOnlySpan<byte> f)
    {
        var a = f[14..];
        return (BinaryPrimitives.ReadUInt16BigEndian(a[6..]), MacAddress.Read(a[8..]), Ipv4Address.Read(a[14..]),
            MacAddress.Read(a[18..]), Ipv4Address.Read(a[24..]));
    }
}
