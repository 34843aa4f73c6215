using System.Buffers;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

public sealed partial class HostStack
{
    // ---- IPv6: addresses ------------------------------------------------------------------------------------------------

    private static readonly Ipv6Address s_allNodes = new(0xFF02UL << 48, 1);
    private const byte NdpHopLimit = 255;

    /// <summary>The solicited-node multicast address of <paramref name="address"/> (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1).</summary>
    internal static Ipv6Address SolicitedNode(Ipv6Address address)
        => new(0xFF02UL << 48, 0x0000_0001_FF00_0000UL | (address.Low & 0xFF_FFFF));

    /// <summary>The Ethernet multicast MAC of an IPv6 multicast address (33:33 + its low 32 bits, RFC 2464 §7).</summary>
    internal static MacAddress MulticastMac(Ipv6Address address) => MacAddress.FromUInt64(0x3333_0000_0000UL | (address.Low & 0xFFFF_FFFFUL));

    private bool IsOurMulticast(Ipv6Address destination)
        => destination == s_allNodes || destination == SolicitedNode(Address6) || destination == SolicitedNode(LinkLocalAddress6);

    private static bool SamePrefix(Ipv6Address a, Ipv6Address b, int prefixLength)
    {
        if (prefixLength <= 0) return true;
        if (prefixLength < 64) return (a.High ^ b.High) >> (64 - prefixLength) == 0;
        if (a.High != b.High) return false;
        if (prefixLength >= 128) return a.Low == b.Low;
        return prefixLength == 64 || (a.Low ^ b.Low) >> (128 - prefixLength) == 0;
    }

    private IpAddressValue? NextHop6(Ipv6Address destination)
    {
        if (!Ipv6Enabled || destination.IsMulticast || destination == Ipv6Address.Unspecified) return null;
        if (destination.IsLinkLocal || SamePrefix(destination, Address6, Options.PrefixLength6)) return destination;
        return Options.Gateway6 == Ipv6Address.Unspecified ? null : Options.Gateway6;
    }

    // ---- IPv6: in -----------------------------------------------------------------------------------------------------

    private void ReceiveIpv6(Span<byte> payload, MacAddress source)
    {
        if (!Ipv6Packet.TryCreate(payload, out var ip))
        {
            Statistics.FramesDropped++;
            return;
        }
        var destination = ip.Destination;
        bool unicast = destination == Address6 || destination == LinkLocalAddress6;
        if (!unicast && !IsOurMulticast(destination))
        {
            Statistics.FramesDropped++;
            return;
        }
        if (ip.ExtensionHeadersLength != 0)
        {
            // Extension headers and fragments are not handled by the host stack yet: counted, dropped.
            Statistics.Ipv6ExtensionHeaderDrops++;
            Statistics.FramesDropped++;
            return;
        }
        switch (ip.UpperLayerProtocol)
        {
            case IpProtocol.Icmpv6:
                ReceiveIcmpv6(ip.UpperLayerPayload, ip.Source, destination, ip.HopLimit, source);
                break;
            case IpProtocol.Tcp when destination == Address6:
                ReceiveTcp(ip.UpperLayerPayload, ip.Source, source);
                break;
            default:
                Statistics.FramesDropped++;
                break;
        }
    }

    private void ReceiveIcmpv6(Span<byte> payload, Ipv6Address source, Ipv6Address destination, byte hopLimit, MacAddress ethSource)
    {
        if (!Icmpv6Packet.TryCreate(payload, out var packet) || !Icmpv6Repr.TryParse(packet, source, destination, out var icmp))
        {
            Statistics.FramesDropped++;
            return;
        }
        switch (icmp.Type)
        {
            case Icmpv6Type.NeighborSolicitation when hopLimit == NdpHopLimit:
                ReceiveSolicitation(icmp, source, ethSource);
                break;
            case Icmpv6Type.NeighborAdvertisement when hopLimit == NdpHopLimit:
                ReceiveAdvertisement(icmp);
                break;
            case Icmpv6Type.EchoRequest:
                SendEchoReply6(icmp, packet.Payload, destination.IsMulticast ? Address6 : destination, source, ethSource);
                break;
            case Icmpv6Type.PacketTooBig:
            {
                // RFC 8201: the quoted packet names the destination whose path MTU shrank; only our own TCP traffic counts.
                var quoted = packet.Payload;
                if (quoted.Length < Ipv6Packet.HeaderLength) break;
                var quotedSource = Ipv6Address.Read(quoted.Slice(8, Ipv6Address.Length));
                var quotedDestination = Ipv6Address.Read(quoted.Slice(24, Ipv6Address.Length));
                if (quotedSource == Address6 && (IpProtocol)quoted[6] == IpProtocol.Tcp) PathMtuDecrease(quotedDestination, icmp.Mtu);
                break;
            }
            default:
                // NDP with a hop limit other than 255 came through a router (RFC 4861 §7.1.1); the rest is not ours.
                Statistics.FramesDropped++;
                break;
        }
    }

    /// <summary>RFC 4861 §7.2.3: a solicitation for one of our addresses is answered with a solicited advertisement; its
    /// source link-layer address updates (or creates) the sender's entry without confirming it (stale).</summary>
    private void ReceiveSolicitation(in Icmpv6Repr ns, Ipv6Address source, MacAddress ethSource)
    {
        var target = ns.TargetAddress;
        if (target != Address6 && target != LinkLocalAddress6) return;   // another node's solicited-node group
        if (source == Ipv6Address.Unspecified)
        {
            // Duplicate address detection by another node (RFC 4862 §5.4.3): the address is ours, say so to all nodes.
            SendNeighborAdvertisement(target, s_allNodes, MulticastMac(s_allNodes), NeighborAdvertisementFlags.Override);
            return;
        }
        if (ns.LinkLayerAddress is { } sll) LearnNeighborUnconfirmed(GetNeighbor(source), sll);
        SendNeighborAdvertisement(target, source, ns.LinkLayerAddress ?? ethSource,
            NeighborAdvertisementFlags.Solicited | NeighborAdvertisementFlags.Override);
    }

    /// <summary>RFC 4861 §7.2.5: an advertisement updates an existing entry; a solicited one confirms reachability.</summary>
    private void ReceiveAdvertisement(in Icmpv6Repr na)
    {
        if (!_neighbors.TryGetValue(na.TargetAddress, out var entry)) return;
        bool solicited = (na.Flags & NeighborAdvertisementFlags.Solicited) != 0;
        bool overriding = (na.Flags & NeighborAdvertisementFlags.Override) != 0;
        if (na.LinkLayerAddress is not { } tll)
        {
            if (solicited && entry.HasMac) LearnNeighbor(entry, entry.Mac);
            return;
        }
        if (!entry.HasMac || tll == entry.Mac || overriding)
        {
            if (solicited) LearnNeighbor(entry, tll);
            else if (!entry.HasMac || tll != entry.Mac) LearnNeighborUnconfirmed(entry, tll);
            return;
        }
        // A different address without the override flag: kept, but no longer trusted as reachable.
        if (entry.State == NeighborState.Reachable) MarkStale(entry);
    }

    /// <summary>A link-layer address learned without proof of reachability (RFC 4861 §7.3.3: STALE).</summary>
    private void LearnNeighborUnconfirmed(NeighborEntry entry, MacAddress mac)
    {
        if (entry.HasMac && entry.Mac == mac) return;
        entry.Mac = mac;
        MarkStale(entry);
        entry.Verifying = false;
        entry.Probing = false;
        entry.RequestsSent = 0;
        entry.NextRequestAt = Instant.MaxValue;
        PushNeighborMac(entry);
        ReleaseNeighborWaiters(entry, mac);
    }

    private static void MarkStale(NeighborEntry entry)
    {
        entry.State = NeighborState.Stale;
        Volatile.Write(ref entry.ReachableUntilMicros, 0);
    }

    // ---- IPv6: out ----------------------------------------------------------------------------------------------------

    /// <summary>RFC 4861 §7.2.2: to the solicited-node group while the MAC is unknown, unicast to the known MAC (a probe
    /// of a stale or verified entry, §7.3.3).</summary>
    private void SendNeighborSolicitation(NeighborEntry entry)
    {
        var target = entry.Address.Ipv6;
        bool unicast = entry.HasMac;
        var destination = unicast ? target : SolicitedNode(target);
        var source = target.IsLinkLocal ? LinkLocalAddress6 : Address6;
        SendNdp(Icmpv6Repr.NeighborSolicitation(target, MacAddress), source, destination, unicast ? entry.Mac : MulticastMac(destination));
        Statistics.NeighborSolicitationsSent++;
        entry.RequestsSent++;
        entry.NextRequestAt = _now + Options.ArpRetryInterval;
    }

    private void SendNeighborAdvertisement(Ipv6Address target, Ipv6Address destination, MacAddress destinationMac, NeighborAdvertisementFlags flags)
    {
        SendNdp(Icmpv6Repr.NeighborAdvertisement(flags, target, MacAddress), target, destination, destinationMac);
        Statistics.NeighborAdvertisementsSent++;
    }

    private void SendNdp(in Icmpv6Repr message, Ipv6Address source, Ipv6Address destination, MacAddress destinationMac)
    {
        const int Headers = EthernetFrame.UntaggedHeaderLength + Ipv6Packet.HeaderLength;
        var frame = _scratch.AsSpan(0, Headers + message.BufferLength);
        new EthernetRepr(MacAddress, destinationMac, EtherType.Ipv6).Emit(frame);
        new Ipv6Repr(source, destination, IpProtocol.Icmpv6, message.BufferLength, NdpHopLimit).Emit(frame[EthernetFrame.UntaggedHeaderLength..]);
        message.Emit(frame[Headers..], source, destination);
        SendFrame(frame);
    }

    private void SendEchoReply6(in Icmpv6Repr request, ReadOnlySpan<byte> data, Ipv6Address source, Ipv6Address destination, MacAddress destinationMac)
    {
        // RFC 4443 §4.2: the reply carries the request's identifier, sequence number and data.
        var reply = Icmpv6Repr.EchoReply(request.Identifier, request.SequenceNumber, request.DataLength);
        const int Headers = EthernetFrame.UntaggedHeaderLength + Ipv6Packet.HeaderLength;
        int length = Headers + reply.BufferLength;
        byte[]? rented = null;
        Span<byte> frame = length <= _scratch.Length ? _scratch.AsSpan(0, length) : (rented = ArrayPool<byte>.Shared.Rent(length)).AsSpan(0, length);
        new EthernetRepr(MacAddress, destinationMac, EtherType.Ipv6).Emit(frame);
        new Ipv6Repr(source, destination, IpProtocol.Icmpv6, reply.BufferLength).Emit(frame[EthernetFrame.UntaggedHeaderLength..]);
        reply.Emit(frame[Headers..], source, destination, data);
        SendFrame(frame);
        Statistics.EchoRepliesSent++;
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
    }
}
