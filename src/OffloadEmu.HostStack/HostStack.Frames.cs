using System.Buffers;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

public sealed partial class HostStack
{
    // ---- non-offload path: in ---------------------------------------------------------------------------------------

    private void ReceiveFrame(Span<byte> frame)
    {
        Statistics.FramesReceived++;
        if (!EthernetFrame.TryCreate(frame, out var eth))
        {
            Statistics.FramesDropped++;
            return;
        }
        var dst = eth.Destination;
        // IPv6 multicast (33:33:…, RFC 2464 §7) is taken when IPv6 is on; the IPv6 destination is checked next.
        if (dst != MacAddress && !dst.IsBroadcast && !(Ipv6Enabled && (dst.ToUInt64() >> 32) == 0x3333))
        {
            Statistics.FramesDropped++;
            return;
        }
        switch (eth.EtherType)
        {
            case EtherType.Arp:
                ReceiveArp(eth.Payload);
                break;
            case EtherType.Ipv4:
                ReceiveIpv4(eth.Payload, eth.Source);
                break;
            case EtherType.Ipv6 when Ipv6Enabled:
                ReceiveIpv6(eth.Payload, eth.Source);
                break;
            default:
                Statistics.FramesDropped++;
                break;
        }
    }

    private void ReceiveArp(Span<byte> payload)
    {
        if (!ArpPacket.TryCreate(payload, out var packet) || !ArpRepr.TryParse(packet, out var arp))
        {
            Statistics.FramesDropped++;
            return;
        }
        // RFC 826: update an existing entry for the sender; create one when the request is for us.
        bool forUs = arp.TargetProtocolAddress == Address;
        if (_neighbors.TryGetValue(arp.SenderProtocolAddress, out var entry) || forUs)
        {
            entry ??= GetNeighbor(arp.SenderProtocolAddress);
            LearnNeighbor(entry, arp.SenderHardwareAddress);
        }
        if (forUs && arp.Operation == ArpOperation.Request)
        {
            var reply = new ArpRepr(ArpOperation.Reply, MacAddress, Address, arp.SenderHardwareAddress, arp.SenderProtocolAddress);
            SendArp(reply, arp.SenderHardwareAddress);
            Statistics.ArpRepliesSent++;
        }
    }

    private void ReceiveIpv4(Span<byte> payload, MacAddress source)
    {
        if (!Ipv4Packet.TryCreate(payload, out var ip) || !Ipv4Repr.TryParse(ip, out var repr))
        {
            Statistics.FramesDropped++;
            return;
        }
        if (repr.Destination != Address)
        {
            Statistics.FramesDropped++;
            return;
        }
        if (repr.IsFragment)
        {
            // The target passes fragments up (spec §6.5); the reassembled datagram is handled as if it came whole, so a
            // segment of an offloaded connection is forwarded to the target (spec §4).
            long dropped = _reassembler.Dropped;
            if (_reassembler.Add(repr, ip.Payload, _now, out var datagram, out int length, out var whole))
            {
                Statistics.DatagramsReassembled++;
                ReceiveIpv4Payload(datagram.AsSpan(0, length), whole, source);
                Ipv4Reassembler.Return(datagram);
            }
            Statistics.ReassemblyDrops += _reassembler.Dropped - dropped;
            return;
        }
        // IPv4 options: the payload starts after them (a segment of an offloaded connection is forwarded without them).
        ReceiveIpv4Payload(ip.Payload, repr, source);
    }

    private void ReceiveIpv4Payload(Span<byte> payload, in Ipv4Repr repr, MacAddress source)
    {
        switch (repr.Protocol)
        {
            case IpProtocol.Icmp:
                ReceiveIcmp(payload, repr, source);
                break;
            case IpProtocol.Tcp:
                ReceiveTcp(payload, repr.Source, source);
                break;
            default:
                Statistics.FramesDropped++;
                break;
        }
    }

    private void ReceiveIcmp(Span<byte> payload, in Ipv4Repr ip, MacAddress source)
    {
        if (!Icmpv4Packet.TryCreate(payload, out var packet) || !Icmpv4Repr.TryParse(packet, out var icmp))
        {
            Statistics.FramesDropped++;
            return;
        }
        if (icmp.Type == Icmpv4Type.DestinationUnreachable && icmp.UnreachableCode == Icmpv4UnreachableCode.FragmentationNeeded)
        {
            // RFC 1191: the quoted header names the destination whose path MTU shrank; only our own TCP traffic counts.
            if (packet.TryGetQuotedHeader(out var quotedSource, out var quotedDestination, out var quotedProtocol, out _)
                && quotedSource == Address && quotedProtocol == IpProtocol.Tcp)
                PathMtuDecrease(quotedDestination, icmp.NextHopMtu);
            return;
        }
        if (icmp.Type != Icmpv4Type.EchoRequest)
        {
            Statistics.FramesDropped++;
            return;
        }
        // RFC 1122 §3.2.2.6: the reply carries the request's identifier, sequence number and data.
        var reply = Icmpv4Repr.EchoReply(icmp.Identifier, icmp.SequenceNumber, icmp.DataLength);
        var data = packet.Payload;
        int length = EthernetFrame.UntaggedHeaderLength + Ipv4Packet.MinHeaderLength + reply.BufferLength;
        byte[]? rented = null;
        Span<byte> frame = length <= _scratch.Length ? _scratch.AsSpan(0, length) : (rented = ArrayPool<byte>.Shared.Rent(length)).AsSpan(0, length);
        new EthernetRepr(MacAddress, source, EtherType.Ipv4).Emit(frame);
        new Ipv4Repr(Address, ip.Source, IpProtocol.Icmp, reply.BufferLength, 64, NextIpId()).Emit(frame[EthernetFrame.UntaggedHeaderLength..]);
        reply.Emit(frame[(EthernetFrame.UntaggedHeaderLength + Ipv4Packet.MinHeaderLength)..], data);
        SendFrame(frame);
        Statistics.EchoRepliesSent++;
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
    }

    /// <summary>A TCP segment for our address of <paramref name="remote"/>'s family.</summary>
    private void ReceiveTcp(Span<byte> segment, IpAddressValue remote, MacAddress source)
    {
        if (!TcpSegment.TryCreate(segment, out var tcp))
        {
            Statistics.FramesDropped++;
            return;
        }
        var key = new ConnectionKey(remote, tcp.SourcePort, tcp.DestinationPort);
        if (_connections.TryGetValue(key, out var c))
        {
            // A segment held for the target is forwarded to it later, and the target takes forwarded segments without a
            // checksum check (spec §4 [EMU]): a damaged one must be dropped here, as the host machine would drop it.
            if (c.Location != ConnectionLocation.Host || c.Machine is null)
            {
                bool intact = remote.IsIpv6 ? tcp.VerifyChecksum(remote.Ipv6, Address6) : tcp.VerifyChecksum(remote.Ipv4, Address);
                if (!intact)
                {
                    Statistics.FramesDropped++;
                    Statistics.ChecksumErrors++;
                    return;
                }
            }
            SegmentForConnection(c, segment);
            return;
        }
        var flags = tcp.Flags;
        if ((flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) == TcpFlags.Syn && _listeners.TryGetValue(tcp.DestinationPort, out var listener))
        {
            PassiveOpen(listener, key, segment, source);
            return;
        }
        Statistics.FramesDropped++;
        bool valid = remote.IsIpv6 ? tcp.VerifyChecksum(remote.Ipv6, Address6) : tcp.VerifyChecksum(remote.Ipv4, Address);
        if ((flags & TcpFlags.Rst) == 0 && valid) SendReset(tcp, remote, source);
    }

    /// <summary>A segment for no connection is answered with a reset (RFC 9293 §3.10.7.1, CLOSED state).</summary>
    private void SendReset(TcpSegment segment, IpAddressValue remote, MacAddress destination)
    {
        var flags = segment.Flags;
        var reset = (flags & TcpFlags.Ack) != 0
            ? new TcpRepr { SourcePort = segment.DestinationPort, DestinationPort = segment.SourcePort, SequenceNumber = segment.AcknowledgmentNumber, Flags = TcpFlags.Rst }
            : new TcpRepr
            {
                SourcePort = segment.DestinationPort,
                DestinationPort = segment.SourcePort,
                SequenceNumber = default,
                AckNumber = segment.SequenceNumber + segment.SegmentLength,
                Flags = TcpFlags.Rst,
            };
        if (remote.IsIpv6)
        {
            const int Headers6 = EthernetFrame.UntaggedHeaderLength + Ipv6Packet.HeaderLength;
            var frame6 = _scratch.AsSpan(0, Headers6 + reset.BufferLength);
            new EthernetRepr(MacAddress, destination, EtherType.Ipv6).Emit(frame6);
            new Ipv6Repr(Address6, remote.Ipv6, IpProtocol.Tcp, reset.BufferLength).Emit(frame6[EthernetFrame.UntaggedHeaderLength..]);
            reset.Emit(frame6[Headers6..], Address6, remote.Ipv6);
            SendFrame(frame6);
            Statistics.ResetsSent++;
            return;
        }
        const int Headers = EthernetFrame.UntaggedHeaderLength + Ipv4Packet.MinHeaderLength;
        var frame = _scratch.AsSpan(0, Headers + reset.BufferLength);
        new EthernetRepr(MacAddress, destination, EtherType.Ipv4).Emit(frame);
        new Ipv4Repr(Address, remote.Ipv4, IpProtocol.Tcp, reset.BufferLength, 64, NextIpId(), dontFragment: true).Emit(frame[EthernetFrame.UntaggedHeaderLength..]);
        reset.Emit(frame[Headers..], Address, remote.Ipv4);
        SendFrame(frame);
        Statistics.ResetsSent++;
    }

    private void SegmentForConnection(HostConnection c, Span<byte> segment)
    {
        switch (c.Location)
        {
            case ConnectionLocation.Host when c.Machine is null:
                // A synthetic offload waiting for its initiate: held and forwarded once it is offloaded.
                HoldSegment(c, segment);
                break;
            case ConnectionLocation.Host:
                c.Machine.ProcessSegment(segment, _now);
                Transmit(c);
                break;
            case ConnectionLocation.Offloading:
            case ConnectionLocation.Uploading:
                // Spec §4: never forwarded during an offload (held, forwarded after it) nor during a terminate (processed
                // in host mode after it).
                HoldSegment(c, segment);
                break;
            case ConnectionLocation.Offloaded:
                HoldSegment(c, segment);
                ForwardHeld(c);
                break;
        }
    }

    private static void HoldSegment(HostConnection c, ReadOnlySpan<byte> segment)
    {
        var copy = ArrayPool<byte>.Shared.Rent(segment.Length);
        segment.CopyTo(copy);
        c.Held.Add((copy, segment.Length));
    }

    // ---- non-offload path: out --------------------------------------------------------------------------------------

    internal void SendFrame(ReadOnlySpan<byte> frame)
    {
        var status = _target.SendFrame(frame);
        if (status == NdisStatus.Success) Statistics.FramesSent++;
        else Statistics.FramesDropped++;
    }

    // The host's IPv4 identification values stay in the low half (the target uses 0x8000-0xFFFF, spec §5).
    internal ushort NextIpId()
    {
        _ipId = (ushort)((_ipId + 1) & 0x7FFF);
        return _ipId;
    }

    private void SendArp(in ArpRepr arp, MacAddress destination)
    {
        var frame = _scratch.AsSpan(0, EthernetFrame.UntaggedHeaderLength + ArpPacket.Length);
        new EthernetRepr(MacAddress, destination, EtherType.Arp).Emit(frame);
        arp.Emit(frame[EthernetFrame.UntaggedHeaderLength..]);
        SendFrame(frame);
    }

    // ---- neighbours (ARP) -------------------------------------------------------------------------------------------

    private NeighborEntry GetNeighbor(IpAddressValue address)
    {
        if (!_neighbors.TryGetValue(address, out var entry))
        {
            entry = new NeighborEntry(address);
            _neighbors.Add(address, entry);
        }
        return entry;
    }

    private IpAddressValue? NextHop(IpAddressValue destination)
    {
        if (destination.IsIpv6) return NextHop6(destination.Ipv6);
        var v4 = destination.Ipv4;
        if (v4.IsInSameSubnet(Address, PrefixLength)) return v4;
        return Gateway.IsUnspecified ? null : Gateway;
    }

    private void LearnNeighbor(NeighborEntry entry, MacAddress mac)
    {
        entry.Mac = mac;
        Confirm(entry, _now);
        entry.Verifying = false;
        entry.Probing = false;
        entry.RequestsSent = 0;
        entry.NextRequestAt = Instant.MaxValue;
        // A new MAC for a neighbour the target holds: its cached state is updated (spec §6.7).
        PushNeighborMac(entry);
        ReleaseNeighborWaiters(entry, mac);
    }

    /// <summary>Resolution succeeded: waiting resolves and connects go on.</summary>
    private void ReleaseNeighborWaiters(NeighborEntry entry, MacAddress mac)
    {
        if (entry.Waiters.Count > 0)
        {
            var waiters = entry.Waiters.ToArray();
            entry.Waiters.Clear();
            foreach (var w in waiters) w.TrySetResult(mac);
        }
        if (entry.PendingConnects.Count > 0)
        {
            var pending = entry.PendingConnects.ToArray();
            entry.PendingConnects.Clear();
            foreach (var c in pending) OpenActive(c);
        }
    }

    private void Resolve(IpAddressValue address, TaskCompletionSource<MacAddress> tcs)
    {
        if (address.IsIpv6 && !Ipv6Enabled)
        {
            tcs.TrySetException(new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.NetworkUnreachable));
            return;
        }
        var entry = GetNeighbor(address);
        if (EnsureResolution(entry)) tcs.TrySetResult(entry.Mac);
        else entry.Waiters.Add(tcs);
    }

    /// <summary>True when the entry has a usable MAC; otherwise (or when it went stale) resolution runs.</summary>
    private bool EnsureResolution(NeighborEntry entry)
    {
        if (entry.State == NeighborState.Reachable && _now >= entry.ReachableUntil)
        {
            entry.State = NeighborState.Stale;
        }
        if (entry.State == NeighborState.Reachable) return true;
        if (entry.State == NeighborState.Failed)
        {
            entry.State = NeighborState.Incomplete;
            entry.RequestsSent = 0;
        }
        if (entry.NextRequestAt == Instant.MaxValue)
        {
            entry.RequestsSent = 0;
            SendResolutionRequest(entry);
        }
        return entry.State == NeighborState.Stale;
    }

    /// <summary>The neighbour was confirmed reachable at <paramref name="at"/> (RFC 4861 §7.3.1 semantics for ARP).</summary>
    private void Confirm(NeighborEntry entry, Instant at)
    {
        entry.State = NeighborState.Reachable;
        entry.ConfirmedAt = at;
        entry.ReachableUntil = at + Options.NeighborReachableTime;
        Volatile.Write(ref entry.ConfirmedAtMicros, at.Microseconds);
        Volatile.Write(ref entry.ReachableUntilMicros, entry.ReachableUntil.Microseconds);
    }

    /// <summary>An ARP request, or for an IPv6 neighbour a neighbour solicitation (RFC 4861 §7.2.2).</summary>
    private void SendResolutionRequest(NeighborEntry entry)
    {
        if (entry.IsIpv6) SendNeighborSolicitation(entry);
        else SendArpRequest(entry);
    }

    private void SendArpRequest(NeighborEntry entry)
    {
        var request = new ArpRepr(ArpOperation.Request, MacAddress, Address, MacAddress.Zero, entry.Address.Ipv4);
        // A probe of a known neighbour goes to its MAC (RFC 1122 §2.3.2.1 unicast poll); resolution is broadcast.
        SendArp(request, entry.Probing && entry.HasMac ? entry.Mac : MacAddress.Broadcast);
        Statistics.ArpRequestsSent++;
        entry.RequestsSent++;
        entry.NextRequestAt = _now + Options.ArpRetryInterval;
    }

    private int RunNeighborTimers()
    {
        int work = 0;
        foreach (var entry in _neighbors.Values)
        {
            if (entry.NextRequestAt > _now) continue;
            work++;
            if (entry.RequestsSent < Options.ArpMaxRequests)
            {
                SendResolutionRequest(entry);
                continue;
            }
            // No answer: the entry fails; waiters and connections waiting for it learn so.
            HostLog.ArpFailed(_logger, entry.Address.ToString(), entry.RequestsSent);
            entry.NextRequestAt = Instant.MaxValue;
            entry.State = NeighborState.Failed;
            Volatile.Write(ref entry.ReachableUntilMicros, 0);
            if (entry.Probing) NeighborLost(entry);
            var waiters = entry.Waiters.ToArray();
            entry.Waiters.Clear();
            foreach (var w in waiters) w.TrySetException(HostUnreachable(entry.Address));
            var pending = entry.PendingConnects.ToArray();
            entry.PendingConnects.Clear();
            foreach (var c in pending) c.ConnectTcs?.TrySetException(HostUnreachable(c.Key.Remote));
        }
        return work;
    }

    // ---- helpers shared with the chimney callbacks --------------------------------------------------------------------

    /// <summary>Appends the first <paramref name="max"/> bytes of an NBL's data to <paramref name="rx"/> (callers bound
    /// <paramref name="max"/> by the free space, or pass bytes already delivered); returns the bytes appended.</summary>
    internal static int AppendNbl(ReceiveQueue rx, NetBufferList nbl, int max)
    {
        int total = 0;
        for (int i = 0; i < nbl.BufferCount && total < max; i++)
        {
            var nb = nbl[i];
            total += AppendRange(rx, nb, nb.DataOffset, Math.Min(nb.DataLength, max - total));
        }
        return total;
    }

    /// <summary>Appends the bytes a completed receive post holds: the <paramref name="count"/> bytes just before its data
    /// start (the target advanced the start past what it placed, spec §3; the host posts one NB).</summary>
    internal static int AppendPlaced(ReceiveQueue rx, NetBufferList nbl, int count)
    {
        if (nbl.BufferCount == 0 || count <= 0) return 0;
        var nb = nbl[0];
        count = Math.Min(count, nb.DataOffset);
        return AppendRange(rx, nb, nb.DataOffset - count, count);
    }

    // Appends `count` bytes of the NB's segment chain from chain position `position` (no copy besides into the queue).
    private static int AppendRange(ReceiveQueue rx, NetBuffer nb, int position, int count)
    {
        int total = 0;
        for (int s = 0; s < nb.SegmentCount && total < count; s++)
        {
            var segment = nb.GetSegment(s).Span;
            if (position >= segment.Length)
            {
                position -= segment.Length;
                continue;
            }
            var part = segment.Slice(position, Math.Min(segment.Length - position, count - total));
            position = 0;
            rx.AppendAll(part);
            total += part.Length;
        }
        return total;
    }
}
