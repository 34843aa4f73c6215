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
