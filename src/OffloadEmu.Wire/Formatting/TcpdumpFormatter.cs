using System.Buffers.Binary;
using System.Text;

namespace OffloadEmu.Wire.Formatting;

/// <summary>
/// Formats Ethernet frames as one line each, with the fields, order and wording of
/// <c>tcpdump -nn</c> (without the timestamp), e.g.
/// <c>IP 198.18.0.2.40000 &gt; 198.18.0.1.7: Flags [S], seq 1, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0</c>.
/// </summary>
/// <remarks>
/// Like tcpdump, an instance is stateful: with <see cref="RelativeSequenceNumbers"/> on it remembers
/// the first sequence and acknowledgment numbers of each TCP conversation (entered on the first
/// segment that carries ACK, reset by a SYN) and prints later numbers relative to them, as tcpdump
/// does unless given <c>-S</c>. Malformed layers print <c>[malformed LAYER: REASON]</c> and the rest
/// of the frame is skipped; the formatter never throws on frame contents.
/// Formatting allocates (it builds text); it is for tools and trace logging, not the data path.
/// </remarks>
public sealed partial class TcpdumpFormatter
{
    private readonly Dictionary<ConversationKey, (uint Seq, uint Ack)> _conversations = new();
    private byte[] _scratch = new byte[2048];

    /// <summary>Creates a formatter.</summary>
    /// <param name="relativeSequenceNumbers">Print TCP numbers relative to each conversation's first ones (tcpdump's default); false is <c>tcpdump -S</c>.</param>
    /// <param name="linkLevelHeader">Prefix each line with the Ethernet header, as <c>tcpdump -e</c>.</param>
    public TcpdumpFormatter(bool relativeSequenceNumbers = true, bool linkLevelHeader = false)
    {
        RelativeSequenceNumbers = relativeSequenceNumbers;
        LinkLevelHeader = linkLevelHeader;
    }

    /// <summary>Whether TCP sequence numbers print relative to the conversation (see remarks).</summary>
    public bool RelativeSequenceNumbers { get; }

    /// <summary>Whether lines start with the Ethernet addresses and EtherType (tcpdump -e).</summary>
    public bool LinkLevelHeader { get; }

    /// <summary>Forgets every TCP conversation seen so far.</summary>
    public void Reset() => _conversations.Clear();

    /// <summary>Formats one frame.</summary>
    public string Format(ReadOnlySpan<byte> frame)
    {
        var sb = new StringBuilder(160);
        Append(sb, frame);
        return sb.ToString();
    }

    /// <summary>Formats a frame with absolute sequence numbers and no state (used by the views' ToString).</summary>
    public static string FormatStateless(ReadOnlySpan<byte> frame) => new TcpdumpFormatter(relativeSequenceNumbers: false).Format(frame);

    /// <summary>Appends the line for <paramref name="frame"/> to <paramref name="output"/>.</summary>
    public void Append(StringBuilder output, ReadOnlySpan<byte> frame)
    {
        // Views are over writable spans; the formatter only reads, from a private copy.
        if (_scratch.Length < frame.Length) _scratch = new byte[Math.Max(frame.Length, _scratch.Length * 2)];
        var buffer = _scratch.AsSpan(0, frame.Length);
        frame.CopyTo(buffer);
        AppendEthernet(output, buffer);
    }

    private void AppendEthernet(StringBuilder sb, Span<byte> buffer)
    {
        if (!EthernetFrame.TryCreate(buffer, out var eth, out var error))
        {
            Malformed(sb, "ethernet", error);
            sb.Append(", length ").Append(buffer.Length);
            return;
        }
        if (LinkLevelHeader)
        {
            // tcpdump -e: addresses, then the EtherType in place of the "IP"/"IP6"/"ARP," prefix.
            sb.Append(eth.Source.ToString()).Append(" > ").Append(eth.Destination.ToString()).Append(", ethertype ");
            if (eth.VlanTag is { } tag)
            {
                AppendEtherTypeName(sb, EtherType.Vlan);
                sb.Append(", length ").Append(buffer.Length).Append(": vlan ").Append(tag.Id).Append(", p ").Append(tag.Priority);
                if (tag.DropEligible) sb.Append(", DEI");
                sb.Append(", ethertype ");
                AppendEtherTypeName(sb, eth.EtherType);
                sb.Append(", ");
            }
            else
            {
                AppendEtherTypeName(sb, eth.EtherType);
                sb.Append(", length ").Append(buffer.Length).Append(": ");
            }
        }
        bool prefix = !LinkLevelHeader;
        var payload = eth.Payload;
        switch (eth.EtherType)
        {
            case EtherType.Ipv4: AppendIpv4(sb, payload, prefix); break;
            case EtherType.Ipv6: AppendIpv6(sb, payload, prefix); break;
            case EtherType.Arp: AppendArp(sb, payload, prefix); break;
            default:
                if (prefix)
                {
                    sb.Append("ethertype ");
                    AppendEtherTypeName(sb, eth.EtherType);
                    sb.Append(", ");
                }
                sb.Append("length ").Append(buffer.Length);
                break;
        }
    }

    private static void AppendEtherTypeName(StringBuilder sb, EtherType type)
    {
        string name = type switch
        {
            EtherType.Ipv4 => "IPv4",
            EtherType.Ipv6 => "IPv6",
            EtherType.Arp => "ARP",
            EtherType.Vlan => "802.1Q",
            _ => "Unknown",
        };
        sb.Append(name).Append(" (0x").Append(((ushort)type).ToString("x4")).Append(')');
    }

    private static void AppendArp(StringBuilder sb, Span<byte> payload, bool prefix)
    {
        if (prefix) sb.Append("ARP, ");
        if (!ArpPacket.TryCreate(payload, out var arp, out var error))
        {
            Malformed(sb, "arp", error);
            sb.Append(", length ").Append(payload.Length);
            return;
        }
        switch (arp.Operation)
        {
            case ArpOperation.Request:
                sb.Append("Request who-has ").Append(arp.TargetProtocolAddress.ToString());
                if (arp.TargetHardwareAddress != MacAddress.Zero)
                    sb.Append(" (").Append(arp.TargetHardwareAddress.ToString()).Append(')');
                sb.Append(" tell ").Append(arp.SenderProtocolAddress.ToString());
                break;
            case ArpOperation.Reply:
                sb.Append("Reply ").Append(arp.SenderProtocolAddress.ToString())
                  .Append(" is-at ").Append(arp.SenderHardwareAddress.ToString());
                break;
            default:
                sb.Append("op ").Append((ushort)arp.Operation);
                break;
        }
        // tcpdump reports what follows the Ethernet header, minimum-frame padding included.
        sb.Append(", length ").Append(payload.Length);
    }

    private void AppendIpv4(StringBuilder sb, Span<byte> payload, bool prefix)
    {
        if (prefix) sb.Append("IP ");
        if (!Ipv4Packet.TryCreate(payload, out var ip, out var error))
        {
            Malformed(sb, "ipv4", error);
            return;
        }
        var src = ip.Source;
        var dst = ip.Destination;
        if (ip.FragmentOffset != 0)
        {
            // A later fragment has no upper-layer header to show.
            sb.Append(src.ToString()).Append(" > ").Append(dst.ToString()).Append(": ip-proto-").Append((byte)ip.Protocol);
            return;
        }
        var upper = ip.Payload;
        switch (ip.Protocol)
        {
            case IpProtocol.Tcp:
                AppendTcp(sb, upper, new Endpoints(src, dst), InternetChecksum.PseudoHeader(src, dst, IpProtocol.Tcp, upper.Length));
                break;
            case IpProtocol.Udp:
                AppendUdp(sb, upper, src.ToString(), dst.ToString());
                break;
            case IpProtocol.Icmp:
                sb.Append(src.ToString()).Append(" > ").Append(dst.ToString()).Append(": ");
                AppendIcmpv4(sb, upper);
                break;
            default:
                sb.Append(src.ToString()).Append(" > ").Append(dst.ToString())
                  .Append(": ip-proto-").Append((byte)ip.Protocol).Append(' ').Append(upper.Length);
                break;
        }
    }

    private void AppendIpv6(StringBuilder sb, Span<byte> payload, bool prefix)
    {
        if (prefix) sb.Append("IP6 ");
        if (!Ipv6Packet.TryCreate(payload, out var ip, out var error))
        {
            Malformed(sb, "ipv6", error);
            return;
        }
        var src = ip.Source;
        var dst = ip.Destination;
        string srcText = src.ToString(), dstText = dst.ToString();
        // TCP and UDP print the addresses themselves, with ports (and only when no extension header precedes them).
        bool portsFollow = ip.UpperLayerProtocol is IpProtocol.Tcp or IpProtocol.Udp && ip.UpperLayerOffset == Ipv6Packet.HeaderLength;
        if (!portsFollow) sb.Append(srcText).Append(" > ").Append(dstText).Append(": ");

        // Extension headers in wire order, named as tcpdump names them.
        var next = ip.NextHeader;
        int offset = Ipv6Packet.HeaderLength;
        var buffer = ip.Buffer;
        int end = Ipv6Packet.HeaderLength + ip.PayloadLength;
        while (offset < ip.UpperLayerOffset)
        {
            switch (next)
            {
                case IpProtocol.HopByHop: sb.Append("HBH "); break;
                case IpProtocol.Ipv6Options: sb.Append("DSTOPT "); break;
                case IpProtocol.Ipv6Route: sb.Append("srcrt "); break;
                case IpProtocol.Ipv6Fragment:
                    int fragOffset = BinaryPrimitives.ReadUInt16BigEndian(buffer[(offset + 2)..]) & 0xFFF8;
                    sb.Append("frag (").Append(fragOffset).Append('|').Append(end - offset - 8).Append(')');
                    if (fragOffset != 0) return;
                    sb.Append(' ');
                    break;
                default: break;
            }
            var nh = (IpProtocol)buffer[offset];
            int len = next switch
            {
                IpProtocol.Ipv6Fragment => 8,
                IpProtocol.Ah => (buffer[offset + 1] + 2) * 4,
                _ => (buffer[offset + 1] + 1) * 8,
            };
            next = nh;
            offset += len;
        }

        var upper = ip.UpperLayerPayload;
        switch (ip.UpperLayerProtocol)
        {
            case IpProtocol.Tcp:
                AppendTcp(sb, upper, new Endpoints(src, dst), InternetChecksum.PseudoHeader(src, dst, IpProtocol.Tcp, upper.Length));
                break;
            case IpProtocol.Udp:
                AppendUdp(sb, upper, srcText, dstText);
                break;
            case IpProtocol.Icmpv6:
                AppendIcmpv6(sb, upper);
                break;
            case IpProtocol.Ipv6NoNext:
                sb.Append("no next header");
                break;
            default:
                sb.Append("ip-proto-").Append((byte)ip.UpperLayerProtocol).Append(' ').Append(upper.Length);
                break;
        }
    }

    private static void AppendUdp(StringBuilder sb, Span<byte> udp, string src, string dst)
    {
        // UDP is carried for display only; OffloadEmu has no UDP view. Header: sport, dport, length, checksum.
        if (udp.Length < 8)
        {
            sb.Append(src).Append(" > ").Append(dst).Append(": ");
            Malformed(sb, "udp", WireError.Truncated);
            return;
        }
        ushort sport = BinaryPrimitives.ReadUInt16BigEndian(udp);
        ushort dport = BinaryPrimitives.ReadUInt16BigEndian(udp[2..]);
        int length = BinaryPrimitives.ReadUInt16BigEndian(udp[4..]);
        sb.Append(src).Append('.').Append(sport).Append(" > ").Append(dst).Append('.').Append(dport).Append(": ");
        if (length < 8) { sb.Append("UDP, bad length ").Append(length).Append(" < 8"); return; }
        sb.Append("UDP, length ").Append(length - 8);
    }

    private static void Malformed(StringBuilder sb, string layer, WireError error)
        => sb.Append("[malformed ").Append(layer).Append(": ").Append(error.ToString()).Append(']');
}
