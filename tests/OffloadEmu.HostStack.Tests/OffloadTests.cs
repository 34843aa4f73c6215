using System.Net.Sockets;
using OffloadEmu.Target;

namespace OffloadEmu.HostStack.Tests;

/// <summary>Connections offloaded to the real target (manual mode) through the chimney contract.</summary>
public sealed class OffloadTests
{
    private const int MiB = 1024 * 1024;

    private static (StackLab Lab, OffloadSocket Socket, PeerConnection Peer) Connected(HostStackOptions? options = null, OffloadTargetOptions? target = null)
    {
        var lab = new StackLab(options ?? new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake }, target);
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        return (lab, socket, peer);
    }

    private static void Transfer(StackLab lab, OffloadSocket socket, PeerConnection peer, byte[] up, byte[] down, MemoryStream received)
    {
        var write = AppIo.WriteAsync(socket, up);
        var read = AppIo.ReadAsync(socket, (int)received.Length + down.Length, 64 * 1024, received);
        peer.Send(down);
        lab.Run(write, TimeSpan.FromSeconds(120));
        lab.Run(read, TimeSpan.FromSeconds(120));
    }

    [Fact]
    public void AfterHandshake_TheConnectionIsOffloaded_And1MiBMovesEachWayByteExact()
    {
        var (lab, socket, peer) = Connected();
        using var _ = lab;
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        Assert.Equal(1, lab.Target.ConnectionCount);
        Assert.Equal((1, 1, 1), lab.Stack.OffloadedObjects);

        var up = AppIo.Pattern(MiB, 10);
        var down = AppIo.Pattern(MiB, 11);
        var received = new MemoryStream();
        long framesUpBefore = lab.Target.FramesUp;
        Transfer(lab, socket, peer, up, down, received);
        lab.RunUntil(() => peer.Received.Length == up.Length, TimeSpan.FromSeconds(60));
        Assert.Equal(up, peer.Received.ToArray());
        Assert.Equal(down, received.ToArray());
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
        // The data went through the target, not up the non-offload path.
        var stats = lab.Target.QueryTcpStatistics(false);
        Assert.True(stats.InSegments > 500, $"target saw {stats.InSegments} segments");
        Assert.True(stats.OutSegments > 500, $"target sent {stats.OutSegments} segments");
        Assert.True(lab.Target.FramesUp - framesUpBefore < 10, $"{lab.Target.FramesUp - framesUpBefore} frames went up");
    }

    [Fact]
    public void Statistics_show_the_live_tcp_state_from_the_target_when_offloaded_and_from_the_host_machine_after_upload()
    {
        var (lab, socket, peer) = Connected();
        using var _ = lab;
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var received = new MemoryStream();
        Transfer(lab, socket, peer, AppIo.Pattern(300_000, 40), AppIo.Pattern(200_000, 41), received);
        lab.RunFor(TimeSpan.FromMilliseconds(500));   // every ACK settled

        foreach (var expected in new[] { ConnectionLocation.Offloaded, ConnectionLocation.Host })
        {
            if (expected == ConnectionLocation.Host) lab.Run(socket.UploadAsync());
            var stats = lab.Run(socket.GetStatisticsAsync());
            Assert.Equal(expected, stats.Location);
            var d = Assert.IsType<TcpDelegatedState>(stats.State);
            Assert.Equal(TcpState.Established, d.State);
            Assert.Equal(peer.Machine.RcvNxt, d.SndUna);   // everything we sent was ACKed
            Assert.Equal(d.SndUna, d.SndNxt);
            Assert.Equal(peer.Machine.SndNxt, d.RcvNxt);
            Assert.True(d.CWnd >= 1460 && d.SRtt > 0, $"cwnd {d.CWnd}, srtt {d.SRtt}");
        }
    }

    [Fact]
    public void Metrics_on_the_OffloadEmu_meter_follow_this_stacks_offloads_and_uploads()
    {
        var (lab, socket, _) = Connected();
        using var __ = lab;
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        lab.Run(socket.UploadAsync());
        Assert.True(lab.Run(socket.OffloadAsync()));
        var seen = new Dictionary<string, long>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Meter.Name == "OffloadEmu" && i.Name.StartsWith("offloademu.hoststack.", StringComparison.Ordinal)) l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<long>((i, value, tags, _) =>
        {
            foreach (var t in tags)
                if (t.Key == "instance" && (string?)t.Value == lab.Stack.MetricsInstance) seen[i.Name] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(1, seen["offloademu.hoststack.connections"]);
        Assert.Equal(2, seen["offloademu.hoststack.offloads"]);
        Assert.Equal(1, seen["offloademu.hoststack.uploads"]);
        Assert.Equal(0, seen["offloademu.hoststack.offload_failures"]);
        Assert.Equal(0, seen["offloademu.hoststack.neighbor_invalidations"]);
    }

    [Fact]
    public void Upload_MidTransfer_ContinuesInHostMode_ThenReoffload_ByteExact()
    {
        var (lab, socket, peer) = Connected();
        using var _ = lab;
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var up = AppIo.Pattern(MiB, 20);
        var down = AppIo.Pattern(MiB, 21);
        var received = new MemoryStream();
        var write = AppIo.WriteAsync(socket, up);
        var read = AppIo.ReadAsync(socket, down.Length, 16 * 1024, received);
        peer.Send(down);

        // Upload in the middle of both directions.
        lab.RunUntil(() => peer.Received.Length > 300_000 && received.Length > 300_000, TimeSpan.FromSeconds(30));
        var upload = socket.UploadAsync();
        lab.Run(upload);
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        Assert.Equal(0, lab.Target.ConnectionCount);
        long peerAtUpload = peer.Received.Length, hostAtUpload = received.Length;
        Assert.True(peerAtUpload < up.Length && hostAtUpload < down.Length, "the upload happened after the transfer");

        // Host mode carries on...
        lab.RunUntil(() => peer.Received.Length > peerAtUpload + 200_000 && received.Length > hostAtUpload + 200_000, TimeSpan.FromSeconds(30));
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        Assert.Equal(0, lab.Target.ConnectionCount);

        // ...and the connection goes back to the target.
        Assert.True(lab.Run(socket.OffloadAsync()));
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
        Assert.Equal(1, lab.Target.ConnectionCount);
        lab.Run(write, TimeSpan.FromSeconds(120));
        lab.Run(read, TimeSpan.FromSeconds(120));
        lab.RunUntil(() => peer.Received.Length == up.Length, TimeSpan.FromSeconds(60));
        Assert.Equal(up, peer.Received.ToArray());
        Assert.Equal(down, received.ToArray());
        Assert.Equal((2, 1), socket.OffloadCounts);
        Assert.Equal(1, lab.Stack.Statistics.Uploads);
        var stats = lab.Run(socket.GetStatisticsAsync());
        Assert.Equal(ConnectionLocation.Offloaded, stats.Location);
        Assert.Equal((2, 1), (stats.Offloads, stats.Uploads));
        Assert.Equal(up.Length, stats.BytesWritten);
        Assert.Equal(down.Length, stats.BytesReceived);
        // The host machine moved segments in the handshake and in the host-mode period between the offloads.
        Assert.True(stats.HostTcp.OutSegments > 100 && stats.HostTcp.InSegments > 100, $"{stats.HostTcp.InSegments} in, {stats.HostTcp.OutSegments} out");
    }

    [Theory]
    [InlineData(10u)]
    [InlineData(100u)]
    public void OtherTickRates_UploadAndReoffloadStayExact(uint ticksPerSecond)
    {
        var options = new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake, OffloadParameters = OffloadParameters.ForTicksPerSecond(ticksPerSecond) };
        var (lab, socket, peer) = Connected(options);
        using var _ = lab;
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var up = AppIo.Pattern(400_000, 25);
        var write = AppIo.WriteAsync(socket, up);
        lab.RunUntil(() => peer.Received.Length > 100_000, TimeSpan.FromSeconds(30));
        lab.Run(socket.UploadAsync());
        lab.RunUntil(() => peer.Received.Length > 200_000, TimeSpan.FromSeconds(30));
        Assert.True(lab.Run(socket.OffloadAsync()));
        lab.Run(write);
        lab.RunUntil(() => peer.Received.Length == up.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(up, peer.Received.ToArray());
    }

    [Fact]
    public void InitiateFailure_KeepsTheConnectionWorkingInHostMode()
    {
        // The target takes no receive window as large as ours: the TCP block fails with OFFLOAD_TCP_RCV_WINDOW.
        var target = new OffloadTargetOptions { MaxReceiveWindow = 4096 };
        var (lab, socket, peer) = Connected(target: target);
        using var _ = lab;
        lab.RunUntil(() => lab.Stack.Statistics.OffloadsFailed == 1, TimeSpan.FromSeconds(1));
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        Assert.Equal(0, lab.Target.ConnectionCount);
        // The path and neighbour went in (PARTIAL_SUCCESS); the TCP block did not; they are kept without dependents.
        Assert.Equal((1, 1, 0), lab.Stack.OffloadedObjects);

        var up = AppIo.Pattern(200_000, 30);
        var down = AppIo.Pattern(200_000, 31);
        var received = new MemoryStream();
        Transfer(lab, socket, peer, up, down, received);
        lab.RunUntil(() => peer.Received.Length == up.Length, TimeSpan.FromSeconds(60));
        Assert.Equal(up, peer.Received.ToArray());
        Assert.Equal(down, received.ToArray());
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        Assert.Equal(1, lab.Stack.Statistics.OffloadsFailed);
        Assert.Equal(0, lab.Stack.Statistics.OffloadsSucceeded);
    }

    [Fact]
    public void PeerFin_WhileOffloaded_IsEndOfStreamAfterTheData()
    {
        var (lab, socket, peer) = Connected();
        using var _ = lab;
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var data = AppIo.Pattern(100_000, 40);
        peer.Send(data);
        peer.Machine.Close();
        Assert.Equal(data, lab.Run(AppIo.ReadToEndAsync(socket)));
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);

        // Our close: FIN through the target, then the connection is terminated and released with its path/neighbour.
        lab.Run(socket.CloseAsync());
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(ConnectionLocation.Closed, socket.Location);
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal((0, 0, 0), lab.Stack.OffloadedObjects);
        Assert.Equal(TcpState.TimeWait, peer.Machine.State);
    }

    [Fact]
    public void PeerRst_WhileOffloaded_FailsReadsAndWritesWithConnectionReset()
    {
        var (lab, socket, peer) = Connected();
        using var _ = lab;
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var read = AppIo.ReadToEndAsync(socket);
        lab.RunFor(TimeSpan.FromMilliseconds(10));
        peer.Machine.Abort();
        lab.RunUntil(() => read.IsCompleted, TimeSpan.FromSeconds(5));
        var error = Assert.IsType<IOException>(read.Exception!.InnerException);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(5));
        Assert.Equal(0, lab.Target.ConnectionCount);
        var write = socket.WriteAsync(new byte[10]).AsTask();
        lab.RunUntil(() => write.IsCompleted, TimeSpan.FromSeconds(1));
        Assert.True(write.IsFaulted);
    }

    [Fact]
    public void TwoConnections_ShareOneNeighbourAndPath()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        lab.PeerListens.Add(7);
        var a = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var b = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        lab.RunUntil(() => a.Location == ConnectionLocation.Offloaded && b.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        Assert.Equal(2, lab.Target.ConnectionCount);
        Assert.Equal((1, 1, 2), lab.Stack.OffloadedObjects);

        // Each carries its own bytes.
        var peerA = lab.PeerConnections[(7, a.LocalPort)];
        var peerB = lab.PeerConnections[(7, b.LocalPort)];
        var da = AppIo.Pattern(100_000, 50);
        var db = AppIo.Pattern(100_000, 51);
        var wa = AppIo.WriteAsync(a, da);
        var wb = AppIo.WriteAsync(b, db);
        lab.RunUntil(() => peerA.Received.Length == da.Length && peerB.Received.Length == db.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(da, peerA.Received.ToArray());
        Assert.Equal(db, peerB.Received.ToArray());

        // Releasing one keeps the shared objects (one dependent left); releasing the other terminates them too.
        a.Abort();
        lab.RunUntil(() => lab.Stack.ConnectionCount == 1, TimeSpan.FromSeconds(5));
        Assert.Equal((1, 1, 1), lab.Stack.OffloadedObjects);
        Assert.Equal(1, lab.Target.ConnectionCount);
        Assert.Equal(ConnectionLocation.Offloaded, b.Location);
        b.Abort();
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(5));
        Assert.Equal((0, 0, 0), lab.Stack.OffloadedObjects);
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.True((peerA.Events & TcpEvents.Reset) != 0);
        Assert.True((peerB.Events & TcpEvents.Reset) != 0);
    }
}
