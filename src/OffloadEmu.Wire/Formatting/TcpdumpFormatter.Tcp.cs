using System.Buffers.Binary;
using System.Text;

namespace OffloadEmu.Wire.Formatting;

public sealed partial class TcpdumpFormatter
{
    // tcpdump prints the flag letters in bit order: FIN SYN RST PSH ACK URG ECE CWR.
    private static readonly (TcpFlags Flag, char Letter)[] FlagLetters =
    [
        (TcpFlags.Fin, 'F'), (TcpFlags.Syn, 'S'), (TcpFlags.Rst, 'R'), (TcpFlags.Psh, 'P'),
        (TcpFlags.Ack, '.'), (TcpFlags.Urg, 'U'), (TcpFlags.Ece, 'E'), (TcpFlags.Cwr, 'W'),
    ];

    private void AppendTcp(StringBuilder sb, Span<byte> upper, in Endpoints ep, ulong pseudoHeader)
    {
        _ = pseudoHeader; // checksums are shown by -v in tcpdump; the one-line form does not print them.
        if (upper.Length < 4)
        {
            sb.Append(ep.Source).Append(" > ").Append(ep.Destination).Append(": ");
            Malformed(sb, "tcp", WireError.Truncated);
            return;
        }
        ushort sport = BinaryPrimitives.ReadUInt16BigEndian(upper);
        ushort dport = BinaryPrimitives.ReadUInt16BigEndian(upper[2..]);
        sb.Append(ep.Source).Append('.').Append(sport).Append(" > ").Append(ep.Destination).Append('.').Append(dport).Append(": ");
        if (!TcpSegment.TryCreate(upper, out var tcp, out var error))
        {
            Malformed(sb, "tcp", error);
            return;
        }

        var flags = tcp.Flags;
        sb.Append("Flags [");
        bool any = false;
        foreach (var (flag, letter) in FlagLetters)
        {
            if ((flags & flag) != 0) { sb.Append(letter); any = true; }
        }
        if (!any) sb.Append("none");
        sb.Append(']');

        uint seq = tcp.SequenceNumber.Value;
        uint ack = tcp.AcknowledgmentNumber.Value;
        uint thSeq = 0, thAck = 0;
        bool reversed = false;
        if (RelativeSequenceNumbers && (flags & TcpFlags.Ack) != 0)
        {
            // tcpdump's rule: one entry per conversation in a canonical direction; the first ACK-bearing
            // segment (or any SYN) records the bases, later segments print numbers relative to them.
            reversed = sport > dport || (sport == dport && ep.CompareSourceToDestination() > 0);
            var key = reversed
                ? new ConversationKey(ep.DstHigh, ep.DstLow, ep.SrcHigh, ep.SrcLow, ((uint)dport << 16) | sport)
                : new ConversationKey(ep.SrcHigh, ep.SrcLow, ep.DstHigh, ep.DstLow, ((uint)sport << 16) | dport);
            if (!_conversations.TryGetValue(key, out var bases) || (flags & TcpFlags.Syn) != 0)
            {
                bases = reversed ? (unchecked(ack - 1), seq) : (seq, unchecked(ack - 1));
                _conversations[key] = bases;
            }
            else if (reversed)
            {
                seq = unchecked(seq - bases.Ack); ack = unchecked(ack - bases.Seq);
            }
            else
            {
                seq = unchecked(seq - bases.Seq); ack = unchecked(ack - bases.Ack);
            }
            thSeq = bases.Seq; thAck = bases.Ack;
        }

        int length = upper.Length - tcp.HeaderLength;
        if (length > 0 || (flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst)) != 0)
        {
            sb.Append(", seq ").Append(seq);
            if (length > 0) sb.Append(':').Append(unchecked(seq + (uint)length));
        }
        if ((flags & TcpFlags.Ack) != 0) sb.Append(", ack ").Append(ack);
        sb.Append(", win ").Append(tcp.WindowSize);
        if ((flags & TcpFlags.Urg) != 0) sb.Append(", urg ").Append(tcp.UrgentPointer);
        if (tcp.HeaderLength > TcpSegment.MinHeaderLength)
        {
            sb.Append(", options [");
            if (!AppendTcpOptions(sb, tcp.Options, reversed ? thSeq : thAck)) return;
            sb.Append(']');
        }
        sb.Append(", length ").Append(length);
    }

    /// <summary>Appends the options as tcpdump lists them; false (after printing tcpdump's marker) on a malformed option.</summary>
    private static bool AppendTcpOptions(StringBuilder sb, ReadOnlySpan<byte> options, uint sackBase)
    {
        var e = TcpOptions.Enumerate(options);
        bool first = true;
        while (e.MoveNext())
        {
            if (!first) sb.Append(',');
            first = false;
            var o = e.Current;
            var data = o.Data;
            int expected;
            switch (o.Kind)
            {
                case TcpOptionKind.EndOfList: sb.Append("eol"); expected = 1; break;
                case TcpOptionKind.Nop: sb.Append("nop"); expected = 1; break;
                case TcpOptionKind.MaxSegmentSize:
                    sb.Append("mss");
                    if (data.Length >= 2) sb.Append(' ').Append(BinaryPrimitives.ReadUInt16BigEndian(data));
                    expected = 4;
                    break;
                case TcpOptionKind.WindowScale:
                    sb.Append("wscale");
                    if (data.Length >= 1) sb.Append(' ').Append(data[0]);
                    expected = 3;
                    break;
                case TcpOptionKind.SackPermitted: sb.Append("sackOK"); expected = 2; break;
                case TcpOptionKind.Sack:
                    sb.Append("sack");
                    if (data.Length % 8 != 0) sb.Append(" invalid sack");
                    else
                    {
                        sb.Append(' ').Append(data.Length / 8).Append(' ');
                        for (int i = 0; i < data.Length; i += 8)
                        {
                            sb.Append('{').Append(unchecked(BinaryPrimitives.ReadUInt32BigEndian(data[i..]) - sackBase))
                              .Append(':').Append(unchecked(BinaryPrimitives.ReadUInt32BigEndian(data[(i + 4)..]) - sackBase)).Append('}');
                        }
                    }
                    expected = o.Length;
                    break;
                case TcpOptionKind.Timestamps:
                    sb.Append("TS");
                    if (data.Length >= 8)
                        sb.Append(" val ").Append(BinaryPrimitives.ReadUInt32BigEndian(data))
                          .Append(" ecr ").Append(BinaryPrimitives.ReadUInt32BigEndian(data[4..]));
                    expected = 10;
                    break;
                default:
                    sb.Append("unknown-").Append(o.RawKind);
                    if (data.Length > 0)
                    {
                        sb.Append(" 0x");
                        foreach (byte b in data) sb.Append(b.ToString("x2"));
                    }
                    expected = o.Length;
                    break;
            }
            if (expected != o.Length) sb.Append("[len ").Append(o.Length).Append(']');
        }
        if (e.Error != WireError.None)
        {
            // tcpdump closes the bracket only when an option was printed before the bad one.
            if (!first) sb.Append(',');
            sb.Append("[bad opt]");
            if (!first) sb.Append(']');
            return false;
        }
        return true;
    }
}
