using System.Text.Json;
using OffloadEmu.Link.Capture;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli;

/// <summary>
/// One JSON object per frame for <c>offloademu decode --json</c>: frame metadata, the tcpdump-style
/// summary, and the decoded fields of each layer the codecs understand. A layer that fails to parse
/// ends the walk with <c>"malformed": "layer: reason"</c>.
/// </summary>
internal static class FrameJson
{
    public static void Write(Utf8JsonWriter w, int index, in CapturedFrame frame, string summary)
    {
        w.WriteStartObject();
        w.WriteNumber("frame", index);
        w.WriteNumber("time_ns", frame.TimestampNs);
        w.WriteNumber("length", frame.OriginalLength);
        w.WriteNumber("captured", frame.Data.Length);
        if (frame.InterfaceName is { } name) w.WriteString("interface", name);
        if (frame.Direction != CaptureDirection.Unknown) w.WriteString("direction", frame.Direction == CaptureDirection.Inbound ? "in" : "out");
        w.WriteString("summary", summary);
        if (frame.Interface.LinkType == 1)
        {
            var copy = frame.Data.ToArray();
            string? malformed = WriteLayers(w, copy);
            if (malformed is not null) w.WriteString("malformed", malformed);
        }
        w.WriteEndObject();
    }

    private static string? WriteLayers(Utf8JsonWriter w, Span<byte> buffer)
    {
        if (!EthernetFrame.TryCreate(buffer, out var eth, out var err)) return $"ethernet: {err}";
        w.WriteStartObject("eth");
        w.WriteString("src", eth.Source.ToString());
        w.WriteString("dst", eth.Destination.ToString());
        w.WriteNumber("type", (ushort)eth.EtherType);
        if (eth.VlanTag is { } tag)
        {
            w.WriteStartObject("vlan");
            w.WriteNumber("id", tag.Id);
            w.WriteNumber("priority", tag.Priority);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        switch (eth.EtherType)
        {
            case EtherType.Arp:
                if (!ArpPacket.TryCreate(eth.Payload, out var arp, out err)) return $"arp: {err}";
                w.WriteStartObject("arp");
                w.WriteNumber("op", (ushort)arp.Operation);
                w.WriteString("sender_mac", arp.SenderHardwareAddress.ToString());
                w.WriteString("sender_ip", arp.SenderProtocolAddress.ToString());
                w.WriteString("target_mac", arp.TargetHardwareAddress.ToString());
                w.WriteString("target_ip", arp.TargetProtocolAddress.ToString());
                w.WriteEndObject();
                return null;
            case EtherType.Ipv4:
                return WriteIpv4(w, eth.Payload);
            case EtherType.Ipv6:
                return WriteIpv6(w, eth.Payload);
            default:
                return null;
        }
    }

    private static string? WriteIpv4(Utf8JsonWriter w, Span<byte> payload)
    {
        if (!Ipv4Packet.TryCreate(payload, out var ip, out var err)) return $"ipv4: {err}";
        w.WriteStartObject("ipv4");
        w.WriteString("src", ip.Source.ToString());
        w.WriteString("dst", ip.Destination.ToString());
        w.WriteNumber("protocol", (byte)ip.Protocol);
        w.WriteNumber("ttl", ip.TimeToLive);
        w.WriteNumber("dscp", ip.Dscp);
        w.WriteNumber("ecn", ip.Ecn);
        w.WriteNumber("id", ip.Identification);
        w.WriteBoolean("df", ip.DontFragment);
        w.WriteBoolean("mf", ip.MoreFragments);
        w.WriteNumber("fragment_offset", ip.FragmentOffset);
        w.WriteNumber("options_length", ip.OptionsLength);
        w.WriteBoolean("checksum_ok", ip.VerifyChecksum());
        w.WriteEndObject();
        if (ip.FragmentOffset != 0) return null;
        var upper = ip.Payload;
        return ip.Protocol switch
        {
            IpProtocol.Tcp => ip.IsFragment ? null : WriteTcp(w, upper, InternetChecksum.PseudoHeader(ip.Source, ip.Destination, IpProtocol.Tcp, upper.Length)),
            IpProtocol.Icmp => WriteIcmpv4(w, upper, ip.IsFragment),
            _ => null,
        };
    }

    private static string? WriteIpv6(Utf8JsonWriter w, Span<byte> payload)
    {
        if (!Ipv6Packet.TryCreate(payload, out var ip, out var err)) return $"ipv6: {err}";
        w.WriteStartObject("ipv6");
        w.WriteString("src", ip.Source.ToString());
        w.WriteString("dst", ip.Destination.ToString());
        w.WriteNumber("next_header", (byte)ip.NextHeader);
        w.WriteNumber("upper_protocol", (byte)ip.UpperLayerProtocol);
        w.WriteNumber("hop_limit", ip.HopLimit);
        w.WriteNumber("traffic_class", ip.TrafficClass);
        w.WriteNumber("flow_label", ip.FlowLabel);
        if (ip.HasFragmentHeader)
        {
            w.WriteStartObject("fragment");
            w.WriteNumber("offset", ip.FragmentOffset);
            w.WriteBoolean("more", ip.MoreFragments);
            w.WriteNumber("id", ip.FragmentIdentification);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        if (ip.IsFragment) return null;
        var upper = ip.UpperLayerPayload;
        return ip.UpperLayerProtocol switch
        {
            IpProtocol.Tcp => WriteTcp(w, upper, InternetChecksum.PseudoHeader(ip.Source, ip.Destination, IpProtocol.Tcp, upper.Length)),
            IpProtocol.Icmpv6 => WriteIcmpv6(w, upper, ip.Source, ip.Destination),
            _ => null,
        };
    }

    private static string? WriteTcp(Utf8JsonWriter w, Span<byte> upper, ulong pseudoHeader)
    {
        if (!TcpSegment.TryCreate(upper, out var tcp, out var err)) return $"tcp: {err}";
        w.WriteStartObject("tcp");
        w.WriteNumber("sport", tcp.SourcePort);
        w.WriteNumber("dport", tcp.DestinationPort);
        w.WriteNumber("seq", tcp.SequenceNumber.Value);
        w.WriteNumber("ack", tcp.AcknowledgmentNumber.Value);
        w.WriteString("flags", tcp.Flags.ToString());
        w.WriteNumber("win", tcp.WindowSize);
        w.WriteNumber("urg", tcp.UrgentPointer);
        w.WriteNumber("header_length", tcp.HeaderLength);
        w.WriteNumber("payload_length", tcp.Payload.Length);
        w.WriteBoolean("checksum_ok", tcp.VerifyChecksum(pseudoHeader));
        bool optionsOk = TcpOptions.TryParse(tcp.Options, out var opts, out var optErr);
        w.WriteStartObject("options");
        if (opts.MaxSegmentSize is { } mss) w.WriteNumber("mss", mss);
        if (opts.WindowScale is { } ws) w.WriteNumber("wscale", ws);
        if (opts.SackPermitted) w.WriteBoolean("sack_permitted", true);
        if (opts.Timestamps is { } ts) { w.WriteNumber("ts_val", ts.TsVal); w.WriteNumber("ts_ecr", ts.TsEcr); }
        if (opts.SackBlockCount > 0)
        {
            w.WriteStartArray("sack");
            for (int i = 0; i < opts.SackBlockCount; i++)
            {
                var b = opts.GetSackBlock(i);
                w.WriteStartArray();
                w.WriteNumberValue(b.Start.Value);
                w.WriteNumberValue(b.End.Value);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
        w.WriteEndObject();
        return optionsOk ? null : $"tcp options: {optErr}";
    }

    private static string? WriteIcmpv4(Utf8JsonWriter w, Span<byte> upper, bool fragment)
    {
        if (!Icmpv4Packet.TryCreate(upper, out var icmp, out var err)) return $"icmp: {err}";
        w.WriteStartObject("icmp");
        w.WriteNumber("type", (byte)icmp.MessageType);
        w.WriteNumber("code", icmp.Code);
        if (icmp.MessageType is Icmpv4Type.EchoRequest or Icmpv4Type.EchoReply)
        {
            w.WriteNumber("id", icmp.EchoIdentifier);
            w.WriteNumber("seq", icmp.EchoSequence);
        }
        if (icmp.MessageType == Icmpv4Type.DestinationUnreachable && icmp.Code == 4) w.WriteNumber("mtu", icmp.NextHopMtu);
        // A fragment holds only part of the message, so its checksum cannot be checked.
        if (!fragment) w.WriteBoolean("checksum_ok", icmp.VerifyChecksum());
        w.WriteEndObject();
        return null;
    }

    private static string? WriteIcmpv6(Utf8JsonWriter w, Span<byte> upper, Ipv6Address source, Ipv6Address destination)
    {
        if (!Icmpv6Packet.TryCreate(upper, out var icmp, out var err)) return $"icmp6: {err}";
        w.WriteStartObject("icmp6");
        w.WriteNumber("type", (byte)icmp.MessageType);
        w.WriteNumber("code", icmp.Code);
        switch (icmp.MessageType)
        {
            case Icmpv6Type.EchoRequest or Icmpv6Type.EchoReply:
                w.WriteNumber("id", icmp.EchoIdentifier);
                w.WriteNumber("seq", icmp.EchoSequence);
                break;
            case Icmpv6Type.PacketTooBig:
                w.WriteNumber("mtu", icmp.Mtu);
                break;
            case Icmpv6Type.NeighborSolicitation or Icmpv6Type.NeighborAdvertisement:
                w.WriteString("target", icmp.TargetAddress.ToString());
                var option = icmp.MessageType == Icmpv6Type.NeighborSolicitation ? NdpOptionType.SourceLinkLayerAddress : NdpOptionType.TargetLinkLayerAddress;
                if (icmp.TryGetLinkLayerAddress(option, out var mac, out _)) w.WriteString("link_layer_address", mac.ToString());
                break;
        }
        w.WriteBoolean("checksum_ok", icmp.VerifyChecksum(source, destination));
        w.WriteEndObject();
        return null;
    }
}
