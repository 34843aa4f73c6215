using System.Net.Sockets;

namespace OffloadEmu.HostStack.Tests;

/// <summary>Connections the host stack keeps (policy Never): its TCP machine runs them over the non-offload path.</summary>
public sealed class HostModeTests
{
    private static StackLab NewLab() => new(new HostStackOptions { OffloadPolicy = OffloadPolicy.Never });

    [Fact]
    public void Connect_ThenTransferBothWays_InHostMode()
    {
        using var lab = NewLab();
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        var peer = Assert.Single(lab.PeerConnections.Values);
        Assert.Equal(TcpState.Established, peer.Machine.State);

        var up = AppIo.Pattern(300_000, 1);
        var down = AppIo.Pattern(200_000, 2);
        var write = AppIo.WriteAsync(socket, up);
        var read = AppIo.ReadAsync(socket, down.Length);
        peer.Send(down);
        lab.Run(write);
        lab.RunUntil(() => read.IsCompleted && peer.Received.Length == up.Length, TimeSpan.FromSeconds(60));
        Assert.Equal(up, peer.Received.ToArray());
        Assert.Equal(down, lab.Run(read));
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal(0, lab.Stack.Statistics.OffloadsSucceeded + lab.Stack.Statistics.OffloadsFailed);
    }

    [Fact]
    public void PeerFin_IsEndOfStream_AfterTheData()
    {
        using var lab = NewLab();
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        var data = AppIo.Pattern(50_000, 3);
        peer.Send(data);
        peer.Machine.Close();
        Assert.Equal(data, lab.Run(AppIo.ReadToEndAsync(socket)));
        // Our close completes the exchange: the peer (first to close) ends in TIME-WAIT, we in CLOSED (released).
        lab.Run(socket.CloseAsync());
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(TcpState.TimeWait, peer.Machine.State);
        Assert.Equal(ConnectionLocation.Closed, socket.Location);
    }

    [Fact]
    public void PeerRst_FailsReadsAndWritesWithConnectionReset()
    {
        using var lab = NewLab();
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        var read = AppIo.ReadToEndAsync(socket);
        peer.Machine.Abort();
        lab.RunUntil(() => read.IsCompleted, TimeSpan.FromSeconds(5));
        var error = Assert.IsType<IOException>(read.Exception!.InnerException);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        Assert.Equal(ConnectionLocation.Closed, socket.Location);
        var write = socket.WriteAsync(new byte[10]).AsTask();
        lab.RunUntil(() => write.IsCompleted, TimeSpan.FromSeconds(1));
        Assert.True(write.IsFaulted);
    }

    [Fact]
    public void Listen_AcceptsAPeerConnection_AndEchoes()
    {
        using var lab = NewLab();
        var listener = lab.Stack.Listen(8080);
        var accept = listener.AcceptAsync();
        lab.RunFor(TimeSpan.FromMilliseconds(1));
        var peer = lab.PeerConnect(5555, 8080);
        var socket = lab.Run(accept);
        Assert.Equal(StackLab.PeerIp, socket.RemoteAddress);
        Assert.Equal(5555, socket.RemotePort);
        Assert.Equal(8080, socket.LocalPort);
        var data = AppIo.Pattern(100_000, 4);
        peer.Send(data);
        var echoed = lab.Run(Echo(socket, data.Length));
        Assert.Equal(data, echoed);
        lab.RunUntil(() => peer.Received.Length == data.Length, TimeSpan.FromSeconds(10));
        Assert.Equal(data, peer.Received.ToArray());
    }

    [Fact]
    public void SegmentForNoConnection_IsAnsweredWithAReset()
    {
        using var lab = NewLab();
        lab.Run(lab.Stack.ResolveAsync(StackLab.PeerIp));
        // A SYN to a port nobody listens on: RST+ACK acknowledging the SYN (RFC 9293 §3.10.7.1).
        var syn = new TcpRepr { SourcePort = 4000, DestinationPort = 81, SequenceNumber = new SeqNumber(1000), Flags = TcpFlags.Syn, Window = 1000 };
        lab.Inject(lab.FrameFromPeer(IpProtocol.Tcp, Segment(syn)));
        // An ACK for nothing: RST with the acknowledged number as sequence.
        var ack = new TcpRepr { SourcePort = 4001, DestinationPort = 82, SequenceNumber = new SeqNumber(5), AckNumber = new SeqNumber(777), Window = 1000 };
        lab.Inject(lab.FrameFromPeer(IpProtocol.Tcp, Segment(ack)));
        // A RST is never answered.
        var rst = new TcpRepr { SourcePort = 4002, DestinationPort = 83, SequenceNumber = new SeqNumber(5), Flags = TcpFlags.Rst };
        lab.Inject(lab.FrameFromPeer(IpProtocol.Tcp, Segment(rst)));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        var resets = new List<TcpRepr>();
        foreach (var frame in lab.WireFromHost)
        {
            if (!EthernetFrame.TryCreate(frame, out var eth) || eth.EtherType != EtherType.Ipv4) continue;
            if (!Ipv4Packet.TryCreate(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp) continue;
            Assert.True(TcpSegment.TryCreate(ip.Payload, out var seg));
            Assert.True(TcpRepr.TryParse(seg, ip.Source, ip.Destination, out var repr)); // checksum verified
            resets.Add(repr);
        }
        Assert.Equal(2, resets.Count);
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, resets[0].Flags);
        Assert.Equal(new SeqNumber(1001), resets[0].AckNumber);
        Assert.Equal(4000, resets[0].DestinationPort);
        Assert.Equal(TcpFlags.Rst, resets[1].Flags);
        Assert.Equal(new SeqNumber(777), resets[1].SequenceNumber);
        Assert.Equal(2, lab.Stack.Statistics.ResetsSent);
    }

    [Fact]
    public void RstInSynReceived_FreesTheHalfOpenConnection_AndTheListenerStillAccepts()
    {
        using var lab = NewLab();
        var listener = lab.Stack.Listen(8080);
        var accept = listener.AcceptAsync();
        lab.Run(lab.Stack.ResolveAsync(StackLab.PeerIp));
        var syn = new TcpRepr { SourcePort = 4100, DestinationPort = 8080, SequenceNumber = new SeqNumber(1000), Flags = TcpFlags.Syn, Window = 1000 };
        lab.Inject(lab.FrameFromPeer(IpProtocol.Tcp, Segment(syn)));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.Equal(1, lab.Stack.ConnectionCount);
        var synAck = Assert.Single(TcpFromHost(lab), r => r.DestinationPort == 4100);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(new SeqNumber(1001), synAck.AckNumber);

        // RFC 9293 §3.10.7.4 MUST-11: the reset half-open connection goes back to LISTEN; the host frees it, sends
        // nothing (no RST for a RST, no more SYN-ACKs) and the application never hears of it.
        var rst = new TcpRepr { SourcePort = 4100, DestinationPort = 8080, SequenceNumber = new SeqNumber(1001), Flags = TcpFlags.Rst };
        lab.Inject(lab.FrameFromPeer(IpProtocol.Tcp, Segment(rst)));
        lab.RunFor(TimeSpan.FromSeconds(4));
        Assert.Equal(0, lab.Stack.ConnectionCount);
        Assert.Single(TcpFromHost(lab), r => r.DestinationPort == 4100);
        Assert.False(accept.IsCompleted);

        var peer = lab.PeerConnect(5555, 8080);
        var socket = lab.Run(accept);
        Assert.Equal(5555, socket.RemotePort);
        Assert.Equal(TcpState.Established, peer.Machine.State);
    }

    [Fact]
    public void A_syn_flood_holds_at_most_the_half_open_bound_per_listener_and_the_listener_accepts_again_afterwards()
    {
        // 1,000 SYNs from as many ports (a flood that never completes a handshake): the listener keeps at most
        // MaxHalfOpenPerListener half-open connections, answers only those, and drops and counts the rest. Once their
        // SYN-ACKs run out of retransmissions they are freed (RFC 9293 MUST-11) and a real client is accepted.
        const int bound = 64;
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.Never, MaxHalfOpenPerListener = bound });
        var listener = lab.Stack.Listen(8080);
        var accept = listener.AcceptAsync();
        lab.Run(lab.Stack.ResolveAsync(StackLab.PeerIp));
        for (int i = 0; i < 1000; i++)
        {
            var syn = new TcpRepr { SourcePort = (ushort)(20000 + i), DestinationPort = 8080, SequenceNumber = new SeqNumber((uint)(i * 7919)), Flags = TcpFlags.Syn, Window = 1000 };
            lab.Inject(lab.FrameFromPeer(IpProtocol.Tcp, Segment(syn)));
            if (i % 50 == 49) lab.RunFor(TimeSpan.FromMilliseconds(1));
        }
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.Equal(bound, lab.Stack.ConnectionCount);
        Assert.Equal(1000 - bound, lab.Stack.Statistics.SynsDropped);
        Assert.Equal(bound, TcpFromHost(lab).Count(r => r.Flags == (TcpFlags.Syn | TcpFlags.Ack)));
        Assert.False(accept.IsCompleted);

        lab.RunFor(TimeSpan.FromSeconds(120));   // the SYN-ACKs' retransmissions run out
        Assert.Equal(0, lab.Stack.ConnectionCount);
        var peer = lab.PeerConnect(5555, 8080);
        var socket = lab.Run(accept);
        Assert.Equal(5555, socket.RemotePort);
        Assert.Equal(TcpState.Established, peer.Machine.State);
    }

    private static List<TcpRepr> TcpFromHost(StackLab lab)
    {
        var result = new List<TcpRepr>();
        foreach (var frame in lab.WireFromHost)
        {
            if (!EthernetFrame.TryCreate(frame, out var eth) || eth.EtherType != EtherType.Ipv4) continue;
            if (!Ipv4Packet.TryCreate(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp) continue;
            Assert.True(TcpSegment.TryCreate(ip.Payload, out var seg));
            Assert.True(TcpRepr.TryParse(seg, ip.Source, ip.Destination, out var repr));
            result.Add(repr);
        }
        return result;
    }

    private static byte[] Segment(TcpRepr repr)
    {
        var bytes = new byte[repr.BufferLength];
        repr.Emit(bytes, StackLab.PeerIp, StackLab.HostIp);
        return bytes;
    }

    private static async Task<byte[]> Echo(OffloadSocket socket, int length)
    {
        var all = new MemoryStream();
        var buffer = new byte[4096];
        while (all.Length < length)
        {
            int n = await socket.ReadAsync(buffer);
            if (n == 0) break;
            all.Write(buffer, 0, n);
            await socket.WriteAsync(buffer.AsMemory(0, n));
        }
        return all.ToArray();
    }
}
