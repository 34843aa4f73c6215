namespace OffloadEmu.Wire.Tests;

/// <summary>Parses a frame down every layer the Wire project knows, as the target's receive path will,
/// and touches every accessor so a view that let one escape its validated bounds would throw.</summary>
internal static class ParseStack
{
    public static bool TryParseFrame(Span<byte> frame, out WireError error)
    {
        if (!EthernetFrame.TryCreate(frame, out var eth, out error)) return false;
        EthernetRepr.TryParse(eth, out var ethRepr, out error);
        _ = ethRepr.BufferLength + eth.HeaderLength + (int)eth.OuterEtherType + eth.Payload.Length;
        return eth.EtherType switch
        {
            EtherType.Arp => TryParseArp(eth.Payload, out error),
            EtherType.Ipv4 => TryParseIpv4(eth.Payload, out error),
            EtherType.Ipv6 => TryParseIpv6(eth.Payload, out error),
            _ => Unsupported(out error),
        };
    }

    private static bool Unsupported(out WireError error)
    {
        error = WireError.Unsupported;
        return false;
    }

    public static bool TryParseArp(Span<byte> buffer, out WireError error)
    {
        if (!ArpPacket.TryCreate(buffer, out var arp, out error)) return false;
        _ = arp.HardwareLength + arp.ProtocolLength + arp.HeaderLength + arp.SenderHardwareAddress.GetHashCode()
            + arp.TargetHardwareAddress.GetHashCode() + (int)arp.SenderProtocolAddress.Value + (int)arp.TargetProtocolAddress.Value;
        return ArpRepr.TryParse(arp, out _, out error);
    }

    public static bool TryParseIpv4(Span<byte> buffer, out WireError error)
    {
        if (!Ipv4Packet.TryCreate(buffer, out var ip, out error)) return false;
        _ = ip.Version + ip.Dscp + ip.Ecn + ip.Identification + ip.FragmentOffset + ip.TimeToLive + ip.Checksum
            + ip.Options.Length + ip.OptionsLength + ip.Payload.Length + (ip.IsFragment ? 1 : 0) + (ip.DontFragment ? 1 : 0);
        if (!Ipv4Repr.TryParse(ip, out var repr, out error)) return false;
        // A fragment's ICMP checksum covers the reassembled datagram; it cannot be checked here.
        if (repr.IsFragment || repr.Protocol != IpProtocol.Icmp) return true;
        return TryParseIcmpv4(ip.Payload, out error);
    }

    public static bool TryParseIcmpv4(Span<byte> buffer, out WireError error)
    {
        if (!Icmpv4Packet.TryCreate(buffer, out var icmp, out error)) return false;
        _ = icmp.Code + icmp.Checksum + icmp.EchoIdentifier + icmp.EchoSequence + icmp.NextHopMtu + (int)icmp.RestOfHeader + icmp.Payload.Length;
        icmp.TryGetQuotedHeader(out _, out _, out _, out var prefix);
        _ = prefix.Length;
        return Icmpv4Repr.TryParse(icmp, out _, out error);
    }

    public static bool TryParseIpv6(Span<byte> buffer, out WireError error)
    {
        if (!Ipv6Packet.TryCreate(buffer, out var ip, out error)) return false;
        _ = ip.Version + ip.TrafficClass + ip.Dscp + ip.Ecn + (int)ip.FlowLabel + ip.PayloadLength + ip.HopLimit + ip.Payload.Length
            + ip.UpperLayerOffset + ip.ExtensionHeadersLength + ip.UpperLayerPayload.Length + ip.FragmentOffset
            + (int)ip.FragmentIdentification + (ip.MoreFragments ? 1 : 0) + (ip.IsFragment ? 1 : 0) + ip.FragmentHeaderOffset;
        Ipv6FragmentHeader.TryParse(ip, out _);
        if (!Ipv6Repr.TryParse(ip, out _, out error)) return false;
        if (ip.IsFragment || ip.UpperLayerProtocol != IpProtocol.Icmpv6) return true;
        return TryParseIcmpv6(ip.UpperLayerPayload, ip.Source, ip.Destination, out error);
    }

    public static bool TryParseIcmpv6(Span<byte> buffer, Ipv6Address source, Ipv6Address destination, out WireError error)
    {
        if (!Icmpv6Packet.TryCreate(buffer, out var icmp, out error)) return false;
        _ = icmp.Code + icmp.Checksum + icmp.EchoIdentifier + icmp.EchoSequence + (int)icmp.Mtu + (int)icmp.NeighborFlags
            + icmp.TargetAddress.GetHashCode() + icmp.Payload.Length + icmp.NdpOptions.Length;
        icmp.TryGetLinkLayerAddress(NdpOptionType.SourceLinkLayerAddress, out _, out _);
        return Icmpv6Repr.TryParse(icmp, source, destination, out _, out error);
    }

    /// <summary>Every strict prefix of a complete, unpadded frame must be refused with a reason, and never throw.</summary>
    public static void AssertEveryPrefixRejected(byte[] frame)
    {
        Assert.True(TryParseFrame(frame.AsSpan(), out var full), $"full frame rejected: {full}");
        for (int length = 0; length < frame.Length; length++)
        {
            var prefix = frame.AsSpan(0, length).ToArray();
            bool ok = TryParseFrame(prefix, out var error);
            Assert.False(ok, $"prefix of {length}/{frame.Length} bytes accepted");
            Assert.NotEqual(WireError.None, error);
        }
    }
}
