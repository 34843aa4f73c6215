namespace OffloadEmu.HostStack.Tests;

/// <summary>Forward, target-initiated retrieve, passive open, graceful shutdown, linkers and the byte policy.</summary>
public sealed class MoreOffloadTests
{
    [Fact]
    public void SegmentsArrivingDuringTheOffload_AreHeldThenForwarded_AndDeliveredOnce()
    {
        HoldingTarget? holding = null;
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake },
            decorate: t => holding = new HoldingTarget(t));
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => holding!.HeldCount == 1, TimeSpan.FromSeconds(1));
        Assert.Equal(ConnectionLocation.Offloading, socket.Location);

        // The peer sends while the initiate is held: the segments come up the non-offload path and wait.
        var data = AppIo.Pattern(20_000, 60);
        peer.Send(data);
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.Equal(ConnectionLocation.Offloading, socket.Location);
        holding!.Release();
        var read = AppIo.ReadAsync(socket, data.Length);
        Assert.Equal(data, lab.Run(read));
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
        Assert.True(lab.Stack.Statistics.SegmentsForwarded > 0, "nothing was forwarded");
        lab.RunUntil(() => peer.Machine.SndUna == peer.Machine.SndMax, TimeSpan.FromSeconds(5)); // all acknowledged
    }

    [Fact]
    public void A_damaged_segment_arriving_during_the_offload_is_dropped_not_forwarded()
    {
        // Found by the soak (issue 8): held segments are forwarded to the target, which takes them without a checksum
        // check (spec §4 [EMU]); a corrupted one used to reach the application's stream.
        HoldingTarget? holding = null;
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake },
            decorate: t => holding = new HoldingTarget(t));
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => holding!.HeldCount == 1, TimeSpan.FromSeconds(1));

        // The peer's next 100 bytes, but damaged after the checksum was computed.
        var m = peer.Machine;
        var repr = new TcpRepr
        {
            SourcePort = m.LocalPort, DestinationPort = m.RemotePort, SequenceNumber = m.SndNxt, AckNumber = m.RcvNxt,
            Flags = TcpFlags.Ack | TcpFlags.Psh, Window = 65535, PayloadLength = 100,
        };
        var garbage = new byte[100];
        Array.Fill(garbage, (byte)0xEE);
        var segment = new byte[repr.SegmentBufferLength];
        repr.Emit(segment, StackLab.PeerIp, StackLab.HostIp, garbage);
        segment[^1] ^= 0x10;
        lab.Inject(lab.FrameFromPeer(IpProtocol.Tcp, segment));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.Equal(1, lab.Stack.Statistics.ChecksumErrors);

        holding!.Release();
        var data = AppIo.Pattern(1000, 61);
        peer.Send(data);
        Assert.Equal(data, lab.Run(AppIo.ReadAsync(socket, data.Length)));
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
    }

    [Fact]
    public void TargetRetrieve_UploadsAndTheTransferContinuesInHostMode()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var first = AppIo.Pattern(200_000, 70);
        var second = AppIo.Pattern(300_000, 72);
        var down = AppIo.Pattern(500_000, 71);
        var received = new MemoryStream();
        var read = AppIo.ReadAsync(socket, down.Length, 8192, received);
        peer.Send(down);
        lab.Run(AppIo.WriteAsync(socket, first));
        lab.RunUntil(() => peer.Received.Length == first.Length && received.Length > 100_000, TimeSpan.FromSeconds(10));

        // The target asks for the upload; sends the application makes before the host sees the request reach the
        // target after it and come back UPLOAD_IN_PROGRESS (spec §5, §6.3): they must go out in host mode, in order.
        lab.Target.RequestUpload(socket.Connection.Slot!.Context, TcpUploadReason.LowActivity);
        var write = AppIo.WriteAsync(socket, second);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Host, TimeSpan.FromSeconds(5));
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.True(lab.Stack.Statistics.SendsHandedBack > 0, "no send was handed back");
        lab.Run(write);
        lab.Run(read);
        lab.RunUntil(() => peer.Received.Length == first.Length + second.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(first.Concat(second).ToArray(), peer.Received.ToArray());
        Assert.Equal(down, received.ToArray());
        Assert.Equal(ConnectionLocation.Host, socket.Location); // a retrieved connection is not re-offloaded by policy
    }

    [Fact]
    public void PassiveOpen_IsOffloaded_AndCarriesDataBothWays()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        var listener = lab.Stack.Listen(9000);
        var accept = listener.AcceptAsync();
        lab.RunFor(TimeSpan.FromMilliseconds(1));
        var peer = lab.PeerConnect(6000, 9000);
        var socket = lab.Run(accept);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var up = AppIo.Pattern(400_000, 80);
        var down = AppIo.Pattern(400_000, 81);
        var write = AppIo.WriteAsync(socket, up);
        var read = AppIo.ReadAsync(socket, down.Length);
        peer.Send(down);
        lab.Run(write);
        Assert.Equal(down, lab.Run(read));
        lab.RunUntil(() => peer.Received.Length == up.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(up, peer.Received.ToArray());
    }

    [Fact]
    public void Shutdown_WhileOffloaded_SendsTheDataThenFin_AndCompletesWhenAcknowledged()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var data = AppIo.Pattern(300_000, 90);
        lab.Run(AppIo.WriteAsync(socket, data));
        lab.Run(socket.ShutdownAsync());
        // Writing after the shutdown fails.
        Assert.Throws<InvalidOperationException>(() => socket.WriteAsync(new byte[1]).AsTask().GetAwaiter().GetResult());
        lab.RunUntil(() => (peer.Events & TcpEvents.PeerClosed) != 0, TimeSpan.FromSeconds(5));
        Assert.Equal(data, peer.Received.ToArray());
        Assert.Equal(TcpState.CloseWait, peer.Machine.State);
        // Half-close: the peer can still send to us.
        var reply = AppIo.Pattern(10_000, 91);
        peer.Send(reply);
        Assert.Equal(reply, lab.Run(AppIo.ReadAsync(socket, reply.Length)));
        peer.Machine.Close();
        lab.Run(socket.CloseAsync());
        // We closed first: our end ends in TIME-WAIT, handed back by the target and kept in host mode for 2MSL.
        lab.RunUntil(() => lab.Target.ConnectionCount == 0, TimeSpan.FromSeconds(5));
        Assert.Equal(1, lab.Stack.ConnectionCount);
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(65));
    }

    [Fact]
    public void CapacityOne_SecondConnectionUsesLinkers_FailsAndStaysInHostMode()
    {
        var target = new OffloadEmu.Target.OffloadTargetOptions
        {
            Capabilities = new TcpConnectionOffloadCapabilities { TcpConnectionOffloadCapacity = 1, SupportIPv4 = true, SupportSack = true },
        };
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake }, target);
        lab.PeerListens.Add(7);
        var a = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        lab.RunUntil(() => a.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var b = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        lab.RunUntil(() => lab.Stack.Statistics.OffloadsFailed == 1, TimeSpan.FromSeconds(1));
        Assert.Equal(ConnectionLocation.Host, b.Location);
        Assert.Equal(ConnectionLocation.Offloaded, a.Location);
        Assert.Equal((1, 1, 1), lab.Stack.OffloadedObjects);
        var peerB = lab.PeerConnections[(7, b.LocalPort)];
        var data = AppIo.Pattern(100_000, 95);
        var write = AppIo.WriteAsync(b, data);
        lab.Run(write);
        lab.RunUntil(() => peerB.Received.Length == data.Length, TimeSpan.FromSeconds(10));
        Assert.Equal(data, peerB.Received.ToArray());
    }

    [Fact]
    public void AfterBytesPolicy_OffloadsOnceEnoughMoved()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterBytes, OffloadAfterBytes = 100_000 });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunFor(TimeSpan.FromMilliseconds(50));
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        var first = AppIo.Pattern(60_000, 96);
        lab.Run(AppIo.WriteAsync(socket, first));
        lab.RunUntil(() => peer.Received.Length == first.Length, TimeSpan.FromSeconds(5));
        lab.RunFor(TimeSpan.FromMilliseconds(50));
        Assert.Equal(ConnectionLocation.Host, socket.Location); // 60 kB < 100 kB
        var second = AppIo.Pattern(60_000, 97);
        lab.Run(AppIo.WriteAsync(socket, second));
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(5));
        lab.RunUntil(() => peer.Received.Length == first.Length + second.Length, TimeSpan.FromSeconds(5));
        Assert.Equal(first.Concat(second).ToArray(), peer.Received.ToArray());
    }
}
