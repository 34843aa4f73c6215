using System.Net.Sockets;

namespace OffloadEmu.HostStack.Tests;

/// <summary>
/// IPv6 in the host stack: neighbour discovery (RFC 4861) with the same cache, retries, reachability answers and MAC
/// updates as ARP, ICMPv6 echo and packet-too-big, TCP over IPv6 in host mode and offloaded (Ip6 path objects),
/// upload and re-offload, passive open, resets.
/// </summary>
public sealed class Ipv6Tests
{
    private const int MiB = 1024 * 1024;
    private static readonly MacAddress NewMac = MacAddress.Parse("02:00:5e:10:20:31");

    private static (StackLab Lab, OffloadSocket Socket, PeerConnection Peer) Connected6(OffloadPolicy policy = OffloadPolicy.AfterHandshake)
    {
        var lab = new StackLab(new HostStackOptions { OffloadPolicy = policy });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp6, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        Assert.True(peer.IsIpv6);
        lab.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(policy == OffloadPolicy.Never ? ConnectionLocation.Host : ConnectionLocation.Offloaded, socket.Location);
        return (lab, socket, peer);
    }

    private static void Transfer(StackLab lab, OffloadSocket socket, PeerConnection peer, byte[] up, byte[] down, MemoryStream received)
    {
        var write = AppIo.WriteAsync(socket, up);
        var read = AppIo.ReadAsync(socket, (int)received.Length + down.Length, 64 * 1024, received);
        peer.Send(down);
        lab.Run(write, TimeSpan.FromSeconds(120));
        lab.Run(read, TimeSpan.FromSeconds(120));
        lab.RunUntil(() => peer.Received.Length == up.Length, TimeSpan.FromSeconds(60));
    }

    private static IEnumerable<(MacAddress Destination, int Length, bool Ipv6)> TcpFramesFromHost(StackLab lab, int from)
    {
        for (int i = from; i < lab.WireFromHost.Count; i++)
        {
            var frame = lab.WireFromHost[i];
            if (!EthernetFrame.TryCreate(frame, out var eth)) continue;
            if (eth.EtherType == EtherType.Ipv6 && Ipv6Packet.TryCreate(eth.Payload, out var ip6) && ip6.UpperLayerProtocol == IpProtocol.Tcp)
                yield return (eth.Destination, frame.Length, true);
            else if (eth.EtherType == EtherType.Ipv4 && Ipv4Packet.TryCreate(eth.Payload, out var ip4) && ip4.Protocol == IpProtocol.Tcp)
                yield return (eth.Destination, frame.Length, false);
        }
    }

    /// <summary>The MSS option of the host's SYN (IPv6).</summary>
    private static int HostSynMss(StackLab lab)
    {
        foreach (var frame in lab.WireFromHost)
        {
            if (!EthernetFrame.TryCreate(frame, out var eth) || eth.EtherType != EtherType.Ipv6) continue;
            if (!Ipv6Packet.TryCreate(eth.Payload, out var ip) || ip.UpperLayerProtocol != IpProtocol.Tcp) continue;
            if (!TcpSegment.TryCreate(ip.UpperLayerPayload, out var tcp) || (tcp.Flags & TcpFlags.Syn) == 0) continue;
            Assert.True(TcpOptions.TryParse(tcp.Options, out var options));
            return options.MaxSegmentSize ?? -1;
        }
        return -1;
    }

    private static Icmpv6Repr ParseIcmp6((Ipv6Address Source, Ipv6Address Destination, byte HopLimit, MacAddress EthDestination, byte[] Message) m)
    {
        Assert.True(Icmpv6Packet.TryCreate(m.Message, out var packet));
        Assert.True(Icmpv6Repr.TryParse(packet, m.Source, m.Destination, out var repr), "ICMPv6 message or checksum invalid");
        return repr;
    }

    private static List<(Ipv6Address Source, Ipv6Address Destination, byte HopLimit, MacAddress EthDestination, byte[] Message)> Icmp6OfType(StackLab lab, Icmpv6Type type)
        => lab.Icmp6FromHost.Where(m => m.Message[0] == (byte)type).ToList();

    private static byte[] Solicitation(StackLab lab, Ipv6Address target, byte hopLimit = 255)
    {
        var ns = Icmpv6Repr.NeighborSolicitation(target, lab.PeerSide.MacAddress);
        var bytes = new byte[ns.BufferLength];
        var group = HostStack.SolicitedNode(target);
        ns.Emit(bytes, StackLab.PeerIp6, group);
        return lab.FrameFromPeer6(IpProtocol.Icmpv6, bytes, hopLimit, group, HostStack.MulticastMac(group));
    }

    [Fact]
    public void Resolves_by_a_solicitation_to_the_solicited_node_group_and_caches_the_advertised_mac()
    {
        using var lab = new StackLab();
        var mac = lab.Run(lab.Stack.ResolveAsync(StackLab.PeerIp6));
        Assert.Equal(lab.PeerSide.MacAddress, mac);
        var ns = Assert.Single(lab.Icmp6FromHost);
        Assert.Equal(Ipv6Address.Parse("ff02::1:ff00:1"), ns.Destination);
        Assert.Equal(MacAddress.Parse("33:33:ff:00:00:01"), ns.EthDestination);
        Assert.Equal(StackLab.HostIp6, ns.Source);
        Assert.Equal(255, ns.HopLimit);
        var repr = ParseIcmp6(ns);
        Assert.Equal(Icmpv6Type.NeighborSolicitation, repr.Type);
        Assert.Equal(StackLab.PeerIp6, repr.TargetAddress);
        Assert.Equal(lab.Stack.MacAddress, repr.LinkLayerAddress);
        Assert.True(lab.Stack.TryGetNeighbor(StackLab.PeerIp6, out var cached, out var state));
        Assert.Equal((lab.PeerSide.MacAddress, NeighborState.Reachable), (cached, state));
        Assert.False(lab.Stack.TryGetNeighbor(StackLab.PeerIp, out _, out _));   // the IPv4 cache is apart

        // Cached: the second call completes at once, nothing on the wire.
        var again = lab.Stack.ResolveAsync(StackLab.PeerIp6);
        lab.Step();
        Assert.True(again.IsCompletedSuccessfully);
        Assert.Single(lab.Icmp6FromHost);
        Assert.Equal(1, lab.Stack.Statistics.NeighborSolicitationsSent);
        Assert.Equal(0, lab.Stack.Statistics.ArpRequestsSent);
    }

    [Fact]
    public void Unanswered_solicitations_fail_with_host_unreachable_after_the_configured_count()
    {
        using var lab = new StackLab();
        lab.PeerAnswersNs = false;
        var resolve = lab.Stack.ResolveAsync(StackLab.PeerIp6);
        lab.RunUntil(() => resolve.IsCompleted, TimeSpan.FromSeconds(10));
        var error = Assert.Throws<SocketException>(() => resolve.GetAwaiter().GetResult());
        Assert.Equal(SocketError.HostUnreachable, error.SocketErrorCode);
        Assert.Equal(lab.Options.ArpMaxRequests, Icmp6OfType(lab, Icmpv6Type.NeighborSolicitation).Count);
        Assert.True(lab.Stack.TryGetNeighbor(StackLab.PeerIp6, out _, out var state));
        Assert.Equal(NeighborState.Failed, state);
    }

    [Theory]
    [InlineData(OffloadPolicy.Never)]
    [InlineData(OffloadPolicy.AfterHandshake)]
    public void Connect_over_ipv6_moves_1MiB_each_way_byte_exact_in_ipv6_sized_segments(OffloadPolicy policy)
    {
        var (lab, socket, peer) = Connected6(policy);
        using var _ = lab;
        Assert.True(socket.IsIpv6);
        Assert.Equal(new IpAddressValue(StackLab.PeerIp6), socket.RemoteIpAddress);
        Assert.Equal(new IpAddressValue(StackLab.HostIp6), socket.LocalIpAddress);
        Assert.Equal(1500 - 60, HostSynMss(lab));   // MSS = MTU - IPv6 - TCP headers
        if (policy != OffloadPolicy.Never)
        {
            Assert.Equal(1, lab.Target.ConnectionCount);
            Assert.Equal((1, 1, 1), lab.Stack.OffloadedObjects);
        }
        var up = AppIo.Pattern(MiB, 60);
        var down = AppIo.Pattern(MiB, 61);
        var received = new MemoryStream();
        int mark = lab.WireFromHost.Count;
        Transfer(lab, socket, peer, up, down, received);
        Assert.Equal(up, peer.Received.ToArray());
        Assert.Equal(down, received.ToArray());
        var frames = TcpFramesFromHost(lab, mark).ToList();
        Assert.True(frames.Count > 500, $"{frames.Count} TCP frames");
        Assert.All(frames, f => Assert.True(f.Ipv6, "an IPv4 TCP frame on an IPv6 connection"));
        // MSS = MTU - 60: full-size segments fill the 1500-byte MTU exactly, never more.
        Assert.All(frames, f => Assert.True(f.Length <= 14 + 1500, $"a {f.Length}-byte frame"));
        Assert.Contains(frames, f => f.Length > 14 + 1400);
        if (policy == OffloadPolicy.Never)
        {
            Assert.Equal(ConnectionLocation.Host, socket.Location);
            Assert.Equal(0, lab.Target.ConnectionCount);
        }
        else
        {
            Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
            var stats = lab.Target.QueryTcpStatistics(true);
            Assert.True(stats.OutSegments > 500, $"the target sent {stats.OutSegments} IPv6 segments");
        }
    }

    [Fact]
    public void Upload_and_re_offload_of_an_ipv6_connection_keep_the_stream_byte_exact()
    {
        var (lab, socket, peer) = Connected6();
        using var _ = lab;
        var up = AppIo.Pattern(MiB, 62);
        var down = AppIo.Pattern(MiB, 63);
        var received = new MemoryStream();
        var write = AppIo.WriteAsync(socket, up);
        var read = AppIo.ReadAsync(socket, down.Length, 64 * 1024, received);
        peer.Send(down);
        lab.RunUntil(() => peer.Received.Length > 300_000 && received.Length > 300_000, TimeSpan.FromSeconds(30));
        lab.Run(socket.UploadAsync());
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        Assert.Equal(0, lab.Target.ConnectionCount);
        lab.RunUntil(() => peer.Received.Length > 600_000 && received.Length > 600_000, TimeSpan.FromSeconds(30));
        Assert.True(lab.Run(socket.OffloadAsync()));
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
        lab.Run(write, TimeSpan.FromSeconds(60));
        lab.Run(read, TimeSpan.FromSeconds(60));
        lab.RunUntil(() => peer.Received.Length == up.Length, TimeSpan.FromSeconds(60));
        Assert.Equal(up, peer.Received.ToArray());
        Assert.Equal(down, received.ToArray());
        Assert.Equal(2, lab.Stack.Statistics.OffloadsSucceeded);
        Assert.Equal(1, lab.Stack.Statistics.Uploads);
    }

    [Fact]
    public void A_passive_open_over_ipv6_is_offloaded_and_moves_1MiB_each_way()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        var listener = lab.Stack.Listen(8080);
        lab.Step();
        var accept = listener.AcceptAsync();
        var peer = lab.PeerConnect6(5000, 8080);
        var socket = lab.Run(accept);
        Assert.True(socket.IsIpv6);
        Assert.Equal(new IpAddressValue(StackLab.PeerIp6), socket.RemoteIpAddress);
        Assert.Equal((ushort)5000, socket.RemotePort);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        // The SYN's source MAC answered for the neighbour until ND says otherwise.
        Assert.True(lab.Stack.TryGetNeighbor(StackLab.PeerIp6, out var mac, out _));
        Assert.Equal(lab.PeerSide.MacAddress, mac);
        var up = AppIo.Pattern(MiB, 64);
        var down = AppIo.Pattern(MiB, 65);
        var received = new MemoryStream();
        Transfer(lab, socket, peer, up, down, received);
        Assert.Equal(up, peer.Received.ToArray());
        Assert.Equal(down, received.ToArray());
    }

    [Fact]
    public void A_segment_for_no_connection_over_ipv6_gets_a_reset()
    {
        using var lab = new StackLab();
        var peer = lab.PeerConnect6(5001, 9999);
        lab.RunUntil(() => (peer.Events & TcpEvents.Reset) != 0, TimeSpan.FromSeconds(5));
        Assert.Equal(1, lab.Stack.Statistics.ResetsSent);
        Assert.Equal(TcpState.Closed, peer.Machine.State);
    }

    [Fact]
    public void Solicitations_for_our_addresses_are_answered_and_others_are_not()
    {
        using var lab = new StackLab();
        lab.Inject(Solicitation(lab, StackLab.HostIp6));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        var na = Assert.Single(Icmp6OfType(lab, Icmpv6Type.NeighborAdvertisement));
        Assert.Equal((StackLab.HostIp6, StackLab.PeerIp6, (byte)255, lab.PeerSide.MacAddress), (na.Source, na.Destination, na.HopLimit, na.EthDestination));
        var repr = ParseIcmp6(na);
        Assert.Equal(NeighborAdvertisementFlags.Solicited | NeighborAdvertisementFlags.Override, repr.Flags);
        Assert.Equal(StackLab.HostIp6, repr.TargetAddress);
        Assert.Equal(lab.Stack.MacAddress, repr.LinkLayerAddress);
        // The solicitation's source link-layer address was learned, not confirmed (RFC 4861 §7.2.3: STALE).
        Assert.True(lab.Stack.TryGetNeighbor(StackLab.PeerIp6, out var mac, out var state));
        Assert.Equal((lab.PeerSide.MacAddress, NeighborState.Stale), (mac, state));

        // Another node's address, or a solicitation that came through a router (hop limit < 255): no answer.
        lab.Inject(Solicitation(lab, Ipv6Address.Parse("fd00:198:18::77")));
        lab.Inject(Solicitation(lab, StackLab.HostIp6, hopLimit: 64));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.Single(Icmp6OfType(lab, Icmpv6Type.NeighborAdvertisement));

        // The link-local address (EUI-64 from the MAC) is ours too.
        var linkLocal = lab.Stack.LinkLocalAddress6;
        Assert.True(linkLocal.IsLinkLocal);
        Assert.Equal(linkLocal, HostStack.LinkLocalFromMac(lab.Stack.MacAddress));
        Assert.Equal(Ipv6Address.Parse("fe80::0211:22ff:fe33:4455"), HostStack.LinkLocalFromMac(MacAddress.Parse("00:11:22:33:44:55")));
        lab.Inject(Solicitation(lab, linkLocal));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        var all = Icmp6OfType(lab, Icmpv6Type.NeighborAdvertisement);
        Assert.Equal(2, all.Count);
        Assert.Equal(linkLocal, ParseIcmp6(all[1]).TargetAddress);
    }

    [Fact]
    public void Echo_requests_get_replies_with_the_same_identifier_sequence_and_data()
    {
        using var lab = new StackLab();
        var data = AppIo.Pattern(200, 66);
        var request = Icmpv6Repr.EchoRequest(0x1234, 7, data.Length);
        var bytes = new byte[request.BufferLength];
        request.Emit(bytes, StackLab.PeerIp6, StackLab.HostIp6, data);
        lab.Inject(lab.FrameFromPeer6(IpProtocol.Icmpv6, bytes));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        var reply = Assert.Single(Icmp6OfType(lab, Icmpv6Type.EchoReply));
        Assert.Equal((StackLab.HostIp6, StackLab.PeerIp6), (reply.Source, reply.Destination));
        var repr = ParseIcmp6(reply);
        Assert.Equal((0x1234, 7, data.Length), (repr.Identifier, repr.SequenceNumber, repr.DataLength));
        Assert.Equal(data, reply.Message.AsSpan(8).ToArray());
        Assert.Equal(1, lab.Stack.Statistics.EchoRepliesSent);
    }

    [Theory]
    [InlineData(OffloadPolicy.Never)]
    [InlineData(OffloadPolicy.AfterHandshake)]
    public void Packet_too_big_shrinks_the_segments_but_never_below_1280(OffloadPolicy policy)
    {
        var (lab, socket, peer) = Connected6(policy);
        using var _ = lab;
        var data = AppIo.Pattern(1_200_000, 67);
        var write = AppIo.WriteAsync(socket, data);
        lab.RunUntil(() => peer.Received.Length > 100_000, TimeSpan.FromSeconds(10));
        long updates = policy == OffloadPolicy.Never ? 0 : 1;

        lab.Inject(PacketTooBig(lab, 1300, socket.LocalPort));
        lab.RunUntil(() => lab.Stack.Statistics.PathMtuDecreases == 1 && lab.Stack.Statistics.PathUpdatesCompleted == updates, TimeSpan.FromSeconds(5));
        int mark = lab.WireFromHost.Count;
        lab.RunUntil(() => peer.Received.Length > 500_000, TimeSpan.FromSeconds(30));
        var between = TcpFramesFromHost(lab, mark).ToList();
        Assert.True(between.Count > 100);
        Assert.All(between, f => Assert.True(f.Length <= 14 + 1300, $"a {f.Length}-byte frame after the MTU dropped to 1300"));
        Assert.Contains(between, f => f.Length > 14 + 1280);

        // 1000 is below the IPv6 minimum: the path goes to 1280, not lower.
        lab.Inject(PacketTooBig(lab, 1000, socket.LocalPort));
        lab.RunUntil(() => lab.Stack.Statistics.PathMtuDecreases == 2 && lab.Stack.Statistics.PathUpdatesCompleted == 2 * updates, TimeSpan.FromSeconds(5));
        mark = lab.WireFromHost.Count;
        lab.Run(write, TimeSpan.FromSeconds(60));
        lab.RunUntil(() => peer.Received.Length == data.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(data, peer.Received.ToArray());
        var after = TcpFramesFromHost(lab, mark).ToList();
        Assert.True(after.Count > 100);
        Assert.All(after, f => Assert.True(f.Length <= 14 + 1280, $"a {f.Length}-byte frame after the MTU dropped to 1280"));
        Assert.Contains(after, f => f.Length > 14 + 1200);
    }

    private static byte[] PacketTooBig(StackLab lab, uint mtu, ushort localPort)
    {
        // The quote: our IPv6 header (host -> peer, TCP) and the start of the TCP header.
        var quote = new byte[48];
        new Ipv6Repr(StackLab.HostIp6, StackLab.PeerIp6, IpProtocol.Tcp, 1460).Emit(quote);
        quote[40] = (byte)(localPort >> 8);
        quote[41] = (byte)localPort;
        quote[43] = 7;
        var icmp = Icmpv6Repr.PacketTooBig(mtu, quote.Length);
        var bytes = new byte[icmp.BufferLength];
        var router = Ipv6Address.Parse("fd00:198:18::fe");
        icmp.Emit(bytes, router, StackLab.HostIp6, quote);
        return lab.FrameFromPeer6(IpProtocol.Icmpv6, bytes, source: router);
    }

    private static (StackLab Lab, NeighborReachabilityTests.AnswerRecorder Recorder, OffloadSocket Socket, PeerConnection Peer) ConnectedWithRecorder(TimeSpan reachableTime)
    {
        NeighborReachabilityTests.AnswerRecorder? recorder = null;
        var lab = new StackLab(new HostStackOptions
        {
            OffloadPolicy = OffloadPolicy.AfterHandshake,
            NeighborReachableTime = reachableTime,
            OffloadParameters = OffloadParameters.Default with { NceStaleTicks = 1000 },
        }, decorate: t => recorder = new NeighborReachabilityTests.AnswerRecorder(t));
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp6, 7));
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        return (lab, recorder!, socket, Assert.Single(lab.PeerConnections.Values));
    }

    private static void SendAndCheck(StackLab lab, OffloadSocket socket, PeerConnection peer, int length, int seed)
    {
        long before = peer.Received.Length;
        var data = AppIo.Pattern(length, seed);
        lab.Run(AppIo.WriteAsync(socket, data), TimeSpan.FromSeconds(30));
        lab.RunUntil(() => peer.Received.Length == before + length, TimeSpan.FromSeconds(60));
        Assert.Equal(data, peer.Received.ToArray().AsSpan((int)before).ToArray());
    }

    private static int UnicastSolicitationsToPeer(StackLab lab)
        => Icmp6OfType(lab, Icmpv6Type.NeighborSolicitation).Count(m => m.EthDestination == lab.PeerSide.MacAddress && m.Destination == StackLab.PeerIp6);

    [Fact]
    public void The_targets_reachability_query_for_an_ipv6_neighbour_is_answered_from_the_nd_confirmation()
    {
        var (lab, recorder, socket, peer) = ConnectedWithRecorder(TimeSpan.FromSeconds(60));
        using var _ = lab;
        lab.RunFor(TimeSpan.FromSeconds(3));
        SendAndCheck(lab, socket, peer, 10_000, 68);
        uint answer = Assert.Single(recorder.Answers);
        Assert.InRange(answer, 2_900u, 3_100u);   // ≈ 3 s at 1000 ticks/s since the advertisement during the connect
        Assert.Equal(0, lab.Stack.Statistics.NeighborVerifications);
        Assert.Equal(0, UnicastSolicitationsToPeer(lab));
    }

    [Fact]
    public void A_stale_ipv6_neighbour_is_probed_with_a_unicast_solicitation_and_the_advertisement_confirms_it()
    {
        var (lab, recorder, socket, peer) = ConnectedWithRecorder(TimeSpan.FromSeconds(1));
        using var _ = lab;
        lab.RunFor(TimeSpan.FromSeconds(3));
        lab.PeerIgnoresTcp = true;
        var data = AppIo.Pattern(10_000, 69);
        var write = AppIo.WriteAsync(socket, data);
        lab.RunFor(TimeSpan.FromMilliseconds(100));
        lab.PeerIgnoresTcp = false;
        lab.Run(write, TimeSpan.FromSeconds(30));
        lab.RunUntil(() => peer.Received.Length == data.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(data, peer.Received.ToArray());
        Assert.Equal(0u, recorder.Answers[0]);
        Assert.Equal(1, lab.Stack.Statistics.NeighborVerifications);
        Assert.Equal(1, UnicastSolicitationsToPeer(lab));
        Assert.Equal(0, lab.Stack.Statistics.NeighborsInvalidated);
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
        Assert.True(lab.Stack.TryGetNeighbor(StackLab.PeerIp6, out var probedMac, out var state));
        Assert.Equal((lab.PeerSide.MacAddress, NeighborState.Reachable), (probedMac, state));
    }

    [Fact]
    public void An_override_advertisement_with_a_new_mac_updates_the_offloaded_neighbour_and_the_target_sends_there()
    {
        var (lab, socket, peer) = Connected6();
        using var _ = lab;
        SendAndCheck(lab, socket, peer, 100_000, 70);
        Assert.All(TcpFramesFromHost(lab, 0), f => Assert.Equal(lab.PeerSide.MacAddress, f.Destination));

        var na = Icmpv6Repr.NeighborAdvertisement(NeighborAdvertisementFlags.Override, StackLab.PeerIp6, NewMac);
        var bytes = new byte[na.BufferLength];
        na.Emit(bytes, StackLab.PeerIp6, StackLab.HostIp6);
        lab.Inject(lab.FrameFromPeer6(IpProtocol.Icmpv6, bytes, hopLimit: 255, ethSource: NewMac));
        lab.RunUntil(() => lab.Stack.Statistics.NeighborUpdatesCompleted == 1, TimeSpan.FromSeconds(1));
        Assert.True(lab.Stack.TryGetNeighbor(StackLab.PeerIp6, out var mac, out var state));
        Assert.Equal((NewMac, NeighborState.Stale), (mac, state));   // unsolicited: learned, not confirmed
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);

        int mark = lab.WireFromHost.Count;
        SendAndCheck(lab, socket, peer, 200_000, 71);
        var after = TcpFramesFromHost(lab, mark).ToList();
        Assert.True(after.Count > 50);
        Assert.All(after, f => Assert.Equal(NewMac, f.Destination));
    }
}
