namespace OffloadEmu.HostStack.Tests;

/// <summary>
/// A neighbour's MAC changes while connections through it are offloaded (an ARP reply with a new hardware address): the
/// stack updates the offloaded neighbour object's cached state (UpdateOffload, spec §6.7) and the target's frames go to
/// the new MAC from then on, the stream unbroken.
/// </summary>
public sealed class NeighborMacChangeTests
{
    private static readonly MacAddress NewMac = MacAddress.Parse("02:00:5e:10:20:30");

    private static byte[] ArpReply(StackLab lab, MacAddress sender)
    {
        var reply = new ArpRepr(ArpOperation.Reply, sender, StackLab.PeerIp, lab.HostMac, StackLab.HostIp);
        var bytes = new byte[14 + 28];
        new EthernetRepr(sender, lab.HostMac, EtherType.Arp).Emit(bytes);
        reply.Emit(bytes.AsSpan(14));
        return bytes;
    }

    private static IEnumerable<(MacAddress Destination, int Payload)> TcpFramesFromHost(StackLab lab, int from)
    {
        for (int i = from; i < lab.WireFromHost.Count; i++)
        {
            var frame = lab.WireFromHost[i];
            if (!EthernetFrame.TryCreate(frame, out var eth) || eth.EtherType != EtherType.Ipv4) continue;
            if (!Ipv4Packet.TryCreate(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp) continue;
            if (!TcpSegment.TryCreate(ip.Payload, out var seg)) continue;
            yield return (eth.Destination, seg.Payload.Length);
        }
    }

    [Fact]
    public void A_new_MAC_for_an_offloaded_neighbour_updates_its_cached_state_and_the_target_sends_there()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var first = AppIo.Pattern(100_000, 70);
        lab.Run(AppIo.WriteAsync(socket, first));
        lab.RunUntil(() => peer.Received.Length == first.Length, TimeSpan.FromSeconds(10));
        Assert.All(TcpFramesFromHost(lab, 0), f => Assert.Equal(lab.PeerSide.MacAddress, f.Destination));

        lab.Inject(ArpReply(lab, NewMac));
        lab.RunUntil(() => lab.Stack.Statistics.NeighborUpdatesCompleted == 1, TimeSpan.FromSeconds(1));
        Assert.True(lab.Stack.TryGetNeighbor(StackLab.PeerIp, out var mac, out _));
        Assert.Equal(NewMac, mac);
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);

        int mark = lab.WireFromHost.Count;
        var second = AppIo.Pattern(100_000, 71);
        var back = AppIo.Pattern(50_000, 72);
        var read = AppIo.ReadAsync(socket, back.Length);
        peer.Send(back);
        lab.Run(AppIo.WriteAsync(socket, second));
        lab.RunUntil(() => peer.Received.Length == first.Length + second.Length, TimeSpan.FromSeconds(10));
        Assert.Equal(back, lab.Run(read));
        Assert.Equal(first.Concat(second).ToArray(), peer.Received.ToArray());
        var after = TcpFramesFromHost(lab, mark).ToList();
        Assert.Contains(after, f => f.Payload > 0);
        Assert.All(after, f => Assert.Equal(NewMac, f.Destination));

        // The same MAC again changes nothing.
        lab.Inject(ArpReply(lab, NewMac));
        lab.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1, lab.Stack.Statistics.NeighborUpdatesCompleted);

        // Upload: host mode uses the new MAC as well.
        lab.Run(socket.UploadAsync());
        mark = lab.WireFromHost.Count;
        var third = AppIo.Pattern(20_000, 73);
        lab.Run(AppIo.WriteAsync(socket, third));
        lab.RunUntil(() => peer.Received.Length == first.Length + second.Length + third.Length, TimeSpan.FromSeconds(10));
        Assert.All(TcpFramesFromHost(lab, mark), f => Assert.Equal(NewMac, f.Destination));
    }

    [Fact]
    public void A_MAC_change_while_the_neighbour_is_being_offloaded_is_pushed_after_the_initiate()
    {
        HoldingTarget? holding = null;
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake }, decorate: t => holding = new HoldingTarget(t));
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => holding!.HeldCount == 1, TimeSpan.FromSeconds(1));
        lab.Inject(ArpReply(lab, NewMac));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.Equal(0, lab.Stack.Statistics.NeighborUpdatesCompleted);
        holding!.Release();
        lab.RunUntil(() => lab.Stack.Statistics.NeighborUpdatesCompleted == 1, TimeSpan.FromSeconds(1));
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);

        int mark = lab.WireFromHost.Count;
        var data = AppIo.Pattern(30_000, 74);
        lab.Run(AppIo.WriteAsync(socket, data));
        lab.RunUntil(() => peer.Received.Length == data.Length, TimeSpan.FromSeconds(10));
        Assert.All(TcpFramesFromHost(lab, mark), f => Assert.Equal(NewMac, f.Destination));
    }

    [Fact]
    public void A_neighbour_whose_last_connection_ends_during_its_update_is_released_after_it()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        // The MAC change and the abort reach the engine in the same round: the update is in flight when the release runs.
        lab.Inject(ArpReply(lab, NewMac));
        socket.Abort();
        lab.RunFor(TimeSpan.FromSeconds(1));
        Assert.True(lab.Stack.ConnectionCount == 0 && lab.Stack.OffloadedObjects == (0, 0, 0),
            $"{lab.Stack.ConnectionCount} connections, objects {lab.Stack.OffloadedObjects}, updates {lab.Stack.Statistics.NeighborUpdatesCompleted}: {lab.Describe()}");
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal((0, 0, 0), lab.Stack.OffloadedObjects);
        _ = peer;
    }
}
