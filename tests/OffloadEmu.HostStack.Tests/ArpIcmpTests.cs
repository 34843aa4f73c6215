using System.Net.Sockets;

namespace OffloadEmu.HostStack.Tests;

public sealed class ArpIcmpTests
{
    [Fact]
    public void Resolve_SendsABroadcastRequest_AndCachesTheAnswer()
    {
        using var lab = new StackLab();
        var mac = lab.Run(lab.Stack.ResolveAsync(StackLab.PeerIp));
        Assert.Equal(lab.PeerSide.MacAddress, mac);
        var requests = lab.ArpFromHost().Where(a => a.Operation == ArpOperation.Request).ToList();
        Assert.Single(requests);
        Assert.Equal(StackLab.PeerIp, requests[0].TargetProtocolAddress);
        Assert.Equal(StackLab.HostIp, requests[0].SenderProtocolAddress);
        Assert.Equal(lab.NicSide.MacAddress, requests[0].SenderHardwareAddress);
        var broadcast = lab.WireFromHost.Single(f => f.Length >= 42 && f[12] == 0x08 && f[13] == 0x06);
        Assert.Equal(MacAddress.Broadcast, MacAddress.Read(broadcast));

        // Cached: a second resolution sends nothing.
        Assert.Equal(mac, lab.Run(lab.Stack.ResolveAsync(StackLab.PeerIp)));
        Assert.Single(lab.ArpFromHost(), a => a.Operation == ArpOperation.Request);
        Assert.True(lab.Stack.TryGetNeighbor(StackLab.PeerIp, out var cached, out var state));
        Assert.Equal(lab.PeerSide.MacAddress, cached);
        Assert.Equal(NeighborState.Reachable, state);
    }

    [Fact]
    public void Resolve_WithoutAnswer_RetriesThenFailsWithHostUnreachable()
    {
        var options = new HostStackOptions { ArpMaxRequests = 3, ArpRetryInterval = TimeSpan.FromMilliseconds(500) };
        using var lab = new StackLab(options) { PeerAnswersArp = false };
        var start = lab.Now;
        var task = lab.Stack.ResolveAsync(StackLab.PeerIp);
        lab.RunUntil(() => task.IsCompleted, TimeSpan.FromSeconds(10));
        var error = Assert.IsType<SocketException>(task.Exception!.InnerException);
        Assert.Equal(SocketError.HostUnreachable, error.SocketErrorCode);
        Assert.Equal(3, lab.ArpFromHost().Count(a => a.Operation == ArpOperation.Request));
        // Three requests 500 ms apart, then one more interval without an answer.
        Assert.Equal(TimeSpan.FromMilliseconds(1500), lab.Now - start);
        Assert.True(lab.Stack.TryGetNeighbor(StackLab.PeerIp, out _, out var state));
        Assert.Equal(NeighborState.Failed, state);

        // A connect to the unreachable peer fails the same way.
        var connect = lab.Stack.ConnectAsync(StackLab.PeerIp, 80);
        lab.RunUntil(() => connect.IsCompleted, TimeSpan.FromSeconds(10));
        Assert.Equal(SocketError.HostUnreachable, Assert.IsType<SocketException>(connect.Exception!.InnerException).SocketErrorCode);
    }

    [Fact]
    public void ArpRequestForOurAddress_IsAnswered_AndTheSenderIsLearned()
    {
        using var lab = new StackLab();
        lab.Inject(ArpFrame(lab, StackLab.HostIp));
        lab.Inject(ArpFrame(lab, new Ipv4Address(198, 18, 0, 77))); // not ours: no answer
        lab.RunFor(TimeSpan.FromMilliseconds(10));
        var replies = lab.ArpFromHost().Where(a => a.Operation == ArpOperation.Reply).ToList();
        var reply = Assert.Single(replies);
        Assert.Equal(StackLab.HostIp, reply.SenderProtocolAddress);
        Assert.Equal(lab.NicSide.MacAddress, reply.SenderHardwareAddress);
        Assert.Equal(StackLab.PeerIp, reply.TargetProtocolAddress);
        Assert.Equal(lab.PeerSide.MacAddress, reply.TargetHardwareAddress);
        Assert.True(lab.Stack.TryGetNeighbor(StackLab.PeerIp, out var mac, out _));
        Assert.Equal(lab.PeerSide.MacAddress, mac);
        Assert.Equal(1, lab.Stack.Statistics.ArpRepliesSent);
    }

    [Fact]
    public void EchoRequest_IsAnsweredWithTheSameIdentifierSequenceAndData()
    {
        using var lab = new StackLab();
        lab.Run(lab.Stack.ResolveAsync(StackLab.PeerIp));
        var data = AppIo.Pattern(100, 7);
        var echo = Icmpv4Repr.EchoRequest(0x1234, 9, data.Length);
        var icmp = new byte[echo.BufferLength];
        echo.Emit(icmp, data);
        lab.Inject(lab.FrameFromPeer(IpProtocol.Icmp, icmp));
        lab.RunFor(TimeSpan.FromMilliseconds(10));
        var reply = Assert.Single(lab.IcmpFromHost);
        Assert.True(Icmpv4Packet.TryCreate(reply, out var packet));
        Assert.True(packet.VerifyChecksum());
        Assert.True(Icmpv4Repr.TryParse(packet, out var repr));
        Assert.Equal(Icmpv4Type.EchoReply, repr.Type);
        Assert.Equal(0x1234, repr.Identifier);
        Assert.Equal(9, repr.SequenceNumber);
        Assert.Equal(data, packet.Payload.ToArray());
    }

    private static byte[] ArpFrame(StackLab lab, Ipv4Address target)
    {
        var arp = new ArpRepr(ArpOperation.Request, lab.PeerSide.MacAddress, StackLab.PeerIp, MacAddress.Zero, target);
        var frame = new byte[14 + 28];
        new EthernetRepr(lab.PeerSide.MacAddress, MacAddress.Broadcast, EtherType.Arp).Emit(frame);
        arp.Emit(frame.AsSpan(14));
        return frame;
    }
}
