using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OffloadEmu.Chimney;
using OffloadEmu.Daemon.Hosting;
using OffloadEmu.Link;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Daemon.Tests;

/// <summary>The daemon's default data path is the offload target: frames from the link reach it, frames for no offloaded
/// connection go up to the bound host unchanged, and the host's frames go out on the link.</summary>
public sealed class TargetSinkTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private IHost Build(params string[] extra) => TestConfig.Build(_dir, TestConfig.MemoryJson, extra);

    private static MemoryLink Peer(IHost host) => host.Services.GetRequiredService<LinkService>().Stack!.MemoryPeer!;

    private static void Send(MemoryLink peer, byte[] frame)
    {
        var pool = new FramePool();
        var b = pool.Rent();
        frame.CopyTo(b.Capacity);
        b.Length = frame.Length;
        while (peer.Send([b]) == 0) Thread.Sleep(1);
        pool.Return(b);
    }

    private static void WaitFor(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(10)) Assert.Fail("timed out waiting for " + what);
            Thread.Sleep(5);
        }
    }

    [Fact]
    public async Task Frames_go_up_through_the_target_to_the_bound_host_and_host_frames_go_out()
    {
        using var host = Build("--Nic:MacAddress=02:00:00:00:aa:01", "--Nic:Capabilities:Capacity=7");
        await host.StartAsync();
        var sink = Assert.IsType<TargetFrameSink>(host.Services.GetRequiredService<IFrameSink>());
        var target = sink.Target!;
        Assert.Equal("02:00:00:00:aa:01", target.MacAddress.ToString());
        Assert.Equal(7u, target.CurrentCapabilities.TcpConnectionOffloadCapacity);

        // No host yet: what goes up is counted and dropped.
        Send(Peer(host), TestFrames.ArpRequest(1));
        WaitFor(() => sink.UnclaimedFramesUp == 1, "a frame counted with no host bound");

        var received = new List<byte[]>();
        sink.BindHost(new FrameHost(received));
        var arp = TestFrames.ArpRequest(2);
        Send(Peer(host), arp);
        WaitFor(() => { lock (received) return received.Count == 1; }, "the frame at the host");
        lock (received) Assert.Equal(arp, received[0]);

        var reply = TestFrames.ArpRequest(3);
        Assert.Equal(NdisStatus.Success, target.SendFrame(reply));
        var pool = new FramePool();
        var batch = new[] { pool.Rent() };
        var sw = Stopwatch.StartNew();
        int n = 0;
        while (n == 0 && sw.Elapsed < TimeSpan.FromSeconds(10)) n = Peer(host).Receive(batch, 100);
        Assert.Equal(1, n);
        Assert.Equal(reply, batch[0].Span.ToArray());
        await host.StopAsync();
        Assert.Null(sink.Target);
    }

    private sealed class FrameHost(List<byte[]> frames) : IOffloadHost
    {
        public void ReceiveFrame(ReadOnlySpan<byte> frame)
        {
            lock (frames) frames.Add(frame.ToArray());
        }

        public void IndicateStatus(NdisStatus adapterStatus) { }
        public void InitiateOffloadComplete(OffloadBlock root) { }
        public void TerminateOffloadComplete(OffloadBlock root) { }
        public void UpdateOffloadComplete(OffloadBlock root) { }
        public void InvalidateOffloadComplete(OffloadBlock root) { }
        public void QueryOffloadStateComplete(OffloadBlock root) { }
        public void TcpOffloadSendComplete(NetBufferList chain) { }
        public void TcpOffloadReceiveComplete(NetBufferList chain) { }
        public void TcpOffloadDisconnectComplete(NetBufferList nbl) { }
        public void TcpOffloadForwardComplete(NetBufferList chain) { }

        public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
        {
            bytesConsumed = 0;
            return NdisStatus.OffloadDataNotAccepted;
        }

        public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info) { }
        public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code) { }
    }
}
