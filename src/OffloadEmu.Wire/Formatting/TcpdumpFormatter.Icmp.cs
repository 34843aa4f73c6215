using System.Buffers.Binary;
using System.Text;

namespace OffloadEmu.Wire.Formatting;

public sealed partial class TcpdumpFormatter
{
    private static void AppendIcmpv4(StringBuilder sb, Span<byte> upper)
    {
        if (!Icmpv4Packet.TryCreate(upper, out var icmp, out var error))
        {
            Malformed(sb, "icmp", error);
            return;
        }
        sb.Append("ICMP ");
        switch (icmp.MessageType)
        {
            case Icmpv4Type.EchoRequest:
            case Icmpv4Type.EchoReply:
                sb.Append(icmp.MessageType == Icmpv4Type.EchoRequest ? "echo request" : "echo reply")
                  .Append(", id ").Append(icmp.EchoIdentifier).Append(", seq ").Append(icmp.EchoSequence);
                break;
            case Icmpv4Type.DestinationUnreachable:
                if (!icmp.TryGetQuotedHeader(out _, out var quotedDst, out var quotedProto, out var transport))
                {
                    Malformed(sb, "icmp quoted header", WireError.Truncated);
                    return;
                }
                AppendUnreachable(sb, icmp.Code, quotedDst.ToString(), quotedProto, transport, icmp.NextHopMtu);
                break;
            case Icmpv4Type.TimeExceeded:
                sb.Append(icmp.Code switch { 0 => "time exceeded in-transit", 1 => "ip reassembly time exceeded", _ => $"time exceeded-#{icmp.Code}" });
                break;
            case Icmpv4Type.Redirect:
                if (!icmp.TryGetQuotedHeader(out _, out var redirected, out _, out _))
                {
                    Malformed(sb, "icmp quoted header", WireError.Truncated);
                    return;
                }
                var gateway = new Ipv4Address(icmp.RestOfHeader);
                sb.Append(icmp.Code switch { 0 => "redirect ", 1 => "redirect ", 2 => "redirect-tos ", 3 => "redirect-tos ", _ => $"redirect-#{icmp.Code} " })
                  .Append(redirected.ToString()).Append(icmp.Code is 1 or 3 ? " to host " : " to net ").Append(gateway.ToString());
                break;
            case Icmpv4Type.ParameterProblem:
                if (icmp.Code != 0) sb.Append("parameter problem - code ").Append(icmp.Code);
                else sb.Append("parameter problem - octet ").Append((byte)(icmp.RestOfHeader >> 24));
                break;
            default:
                sb.Append((byte)icmp.MessageType switch
                {
                    4 => "source quench",
                    10 => "router solicitation",
                    13 => "time stamp request",
                    14 => "time stamp reply",
                    15 => "information request",
                    16 => "information reply",
                    17 => "address mask request",
                    18 => "address mask reply",
                    var t => $"type-#{t}",
                });
                break;
        }
        sb.Append(", length ").Append(upper.Length);
    }

    private static void AppendUnreachable(StringBuilder sb, byte code, string dst, IpProtocol proto, Span<byte> transport, ushort mtu)
    {
        switch (code)
        {
            case 2:
                sb.Append(dst).Append(" protocol ").Append((byte)proto).Append(" unreachable");
                return;
            case 3:
                int port = transport.Length >= 4 ? BinaryPrimitives.ReadUInt16BigEndian(transport[2..]) : 0;
                sb.Append(dst);
                switch (proto)
                {
                    case IpProtocol.Tcp: sb.Append(" tcp port ").Append(port); break;
                    case IpProtocol.Udp: sb.Append(" udp port ").Append(port); break;
                    default: sb.Append(" protocol ").Append((byte)proto).Append(" port ").Append(port); break;
                }
                sb.Append(" unreachable");
                return;
            case 4:
                sb.Append(dst).Append(" unreachable - need to frag");
                if (mtu != 0) sb.Append(" (mtu ").Append(mtu).Append(')');
                return;
        }
        string format = code switch
        {
            0 => "net {0} unreachable",
            1 => "host {0} unreachable",
            5 => "{0} unreachable - source route failed",
            6 => "net {0} unreachable - unknown",
            7 => "host {0} unreachable - unknown",
            8 => "{0} unreachable - source host isolated",
            9 => "net {0} unreachable - admin prohibited",
            10 => "host {0} unreachable - admin prohibited",
            11 => "net {0} unreachable - tos prohibited",
            12 => "host {0} unreachable - tos prohibited",
            13 => "host {0} unreachable - admin prohibited filter",
            14 => "host {0} unreachable - host precedence violation",
            15 => "host {0} unreachable - precedence cutoff",
            _ => "#" + code + " {0} unreachable",
        };
        sb.AppendFormat(System.Globalization.CultureInfo.InvariantCulture, format, dst);
    }

    private static void AppendIcmpv6(StringBuilder sb, Span<byte> upper)
    {
        if (!Icmpv6Packet.TryCreate(upper, out var icmp, out var error))
        {
            Malformed(sb, "icmp6", error);
            return;
        }
        sb.Append("ICMP6, ");
        byte type = (byte)icmp.MessageType;
        switch (icmp.MessageType)
        {
            case Icmpv6Type.EchoRequest:
            case Icmpv6Type.EchoReply:
                sb.Append(type == 128 ? "echo request" : "echo reply")
                  .Append(", id ").Append(icmp.EchoIdentifier).Append(", seq ").Append(icmp.EchoSequence);
                break;
            case Icmpv6Type.PacketTooBig:
                sb.Append("packet too big, mtu ").Append(icmp.Mtu);
                break;
            case Icmpv6Type.NeighborSolicitation:
                sb.Append("neighbor solicitation, who has ").Append(icmp.TargetAddress.ToString());
                break;
            case Icmpv6Type.NeighborAdvertisement:
                sb.Append("neighbor advertisement, tgt is ").Append(icmp.TargetAddress.ToString());
                break;
            default:
                sb.Append(type switch
                {
                    1 => "destination unreachable",
                    3 => "time exceeded in-transit",
                    4 => "parameter problem",
                    130 => "multicast listener query",
                    131 => "multicast listener report",
                    132 => "multicast listener done",
                    133 => "router solicitation",
                    134 => "router advertisement",
                    137 => "redirect",
                    143 => "multicast listener report v2",
                    _ => $"unknown icmp6 type ({type})",
                });
                if (type == 143 && upper.Length >= 8)
                    sb.Append(", ").Append(BinaryPrimitives.ReadUInt16BigEndian(upper[6..])).Append(" group record(s)");
                break;
        }
        sb.Append(", length ").Append(upper.Length);
    }
}
