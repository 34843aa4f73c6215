using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OffloadEmu.Chimney;
using OffloadEmu.Control.Client;
using OffloadEmu.Daemon.Hosting;
using OffloadEmu.Link;
using OffloadEmu.Daemon.Options;
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

    [Theory]
    [InlineData("complete", Target.TerminateSendDisposition.Complete)]
    [InlineData("Return", Target.TerminateSendDisposition.Return)]
    public void Nic_TerminateSends_reaches_the_targets_options(string configured, Target.TerminateSendDisposition expected)
    {
        var options = Options.TargetOptionsBuilder.Build(new Options.NicOptions { TerminateSends = configured },
            new Options.OffloadParametersOptions(), new Options.PoliciesOptions());
        Assert.Equal(expected, options.TerminateSends);
    }

    [Fact]
    public void Nic_TransmitThread_reaches_the_targets_options_and_is_off_by_default()
    {
        var on = Options.TargetOptionsBuilder.Build(new Options.NicOptions { TransmitThread = true },
            new Options.OffloadParametersOptions(), new Options.PoliciesOptions());
        Assert.True(on.TransmitThread);
        var none = Options.TargetOptionsBuilder.Build(new Options.NicOptions(), new Options.OffloadParametersOptions(), new Options.PoliciesOptions());
        Assert.False(none.TransmitThread);
    }

    [Fact]
    public async Task Nic_VlanIds_reach_the_target_which_refuses_other_vlans()
    {
        using var host = Build("--Nic:VlanIds:0=5", "--Nic:VlanIds:1=300", "--Control:Enabled=false");
        await host.StartAsync();
        var target = Assert.IsType<TargetFrameSink>(host.Services.GetRequiredService<IFrameSink>()).Target!;
        Assert.Equal(new ushort[] { 5, 300 }, target.Options.VlanIds);
        var none = Options.TargetOptionsBuilder.Build(new Options.NicOptions(), new Options.OffloadParametersOptions(), new Options.PoliciesOptions());
        Assert.Empty(none.VlanIds);
        await host.StopAsync();
    }

    [Fact]
    public async Task Frames_go_up_through_the_target_to_the_bound_host_and_host_frames_go_out()
    {
        using var host = Build("--Nic:MacAddress=02:00:00:00:aa:01", "--Nic:Capabilities:Capacity=7", "--Control:Enabled=false");
        await host.StartAsync();
        var sink = Assert.IsType<TargetFrameSink>(host.Services.GetRequiredService<IFrameSink>());
        var target = sink.Target!;
        Assert.Equal("02:00:00:00:aa:01", target.MacAddress.ToString());
        Assert.Equal(7u, target.CurrentCapabilities.TcpConnectionOffloadCapacity);

        // No host yet: what goes up is counted and dropped.
        PeerIo.Send(Peer(host), TestFrames.ArpRequest(1));
        PeerIo.WaitFor(() => sink.UnclaimedFramesUp == 1, "a frame counted with no host bound");

        var received = new List<byte[]>();
        sink.BindHost(new FrameHost(received));
        var arp = TestFrames.ArpRequest(2);
        PeerIo.Send(Peer(host), arp);
        PeerIo.WaitFor(() => { lock (received) return received.Count == 1; }, "the frame at the host");
        lock (received) Assert.Equal(arp, received[0]);

        var reply = TestFrames.ArpRequest(3);
        Assert.Equal(NdisStatus.Success, target.SendFrame(reply));
        Assert.Equal(reply, PeerIo.ReceiveOne(Peer(host)));
        await host.StopAsync();
        Assert.Null(sink.Target);
    }

    [Fact]
    public async Task Nic_Queues_runs_that_many_engine_loops_whose_frames_go_up_in_order_and_whose_sends_go_out()
    {
        using var host = Build("--Nic:Queues=3", "--Control:Enabled=false");
        await host.StartAsync();
        var sink = Assert.IsType<TargetFrameSink>(host.Services.GetRequiredService<IFrameSink>());
        var target = sink.Target!;
        Assert.Equal(3, target.QueueCount);
        var received = new List<byte[]>();
        sink.BindHost(new FrameHost(received));
        // TCP frames of 30 flows (no connection offloaded: they go up), spread over the loops by the 4-tuple hash: every
        // one reaches the host, and each flow's frames in the order sent.
        var sent = new List<byte[]>();
        for (int round = 0; round < 4; round++)
            for (ushort port = 50000; port < 50030; port++)
            {
                var frame = TcpFrame(port, (byte)round);
                sent.Add(frame);
                PeerIo.Send(Peer(host), frame);
            }
        PeerIo.WaitFor(() => { lock (received) return received.Count == sent.Count; }, "every frame at the host");
        lock (received)
        {
            for (ushort port = 50000; port < 50030; port++)
            {
                var flow = received.Where(f => (f[34] << 8 | f[35]) == port).Select(f => f[^1]).ToArray();
                Assert.Equal(new byte[] { 0, 1, 2, 3 }, flow);
            }
        }
        var reply = TestFrames.ArpRequest(3);
        Assert.Equal(NdisStatus.Success, target.SendFrame(reply));
        Assert.Equal(reply, PeerIo.ReceiveOne(Peer(host)));

        // The memory link has one queue: the three loops share it; each processed its flows' frames (the hash spreads 30
        // flows over all three) and the status lists them.
        Assert.Equal(1, sink.DeviceQueues);
        var counters = target.LoopCounters();
        Assert.Equal(3, counters.Length);
        Assert.Equal(sent.Count, counters.Sum(c => c.FramesIn));
        Assert.All(counters, c => Assert.True(c.FramesIn > 0, string.Join(", ", counters)));
        Assert.Equal(1, counters.Sum(c => c.FramesOut));   // the ARP reply, on loop 0
        Assert.Equal(1, counters[0].FramesOut);
        var status = await host.Services.GetRequiredService<DaemonStatusSource>().SnapshotAsync(10, CancellationToken.None);
        Assert.Equal(1, status.DeviceQueues);
        Assert.Equal(counters.Select(c => (ulong)c.FramesIn), status.Loops.Select(l => l.FramesIn));
        await host.StopAsync();
    }

    [Fact]
    public async Task One_loop_lists_no_loops_in_the_status()
    {
        using var host = Build("--Control:Enabled=false");
        await host.StartAsync();
        var status = await host.Services.GetRequiredService<DaemonStatusSource>().SnapshotAsync(10, CancellationToken.None);
        Assert.Empty(status.Loops);
        Assert.Equal(1, status.DeviceQueues);
        await host.StopAsync();
    }

    [Theory]
    [InlineData("tap", "", null)]
    [InlineData("packet", "", null)]
    [InlineData("pcap", "", "Link:Kind=pcap: libpcap opens one queue")]
    [InlineData("memory", "", "Link:Kind=memory: the in-memory cable has one queue")]
    [InlineData("tap", "loss 1%", "Impairment: the seeded loss, delay and rate apply to one frame sequence")]
    public void Which_links_get_several_device_queues(string kind, string ingress, string? reason)
    {
        var link = new LinkOptions { Kind = Enum.Parse<LinkKind>(kind, ignoreCase: true), Interface = "x" };
        Assert.Equal(reason, LinkStackFactory.SingleQueueReasonOf(link, new ImpairmentOptions { Ingress = ingress }));
    }

    // Ethernet + IPv4 + TCP (198.18.0.1:port -> 198.18.0.2:80), one payload byte (the round).
    private static byte[] TcpFrame(ushort port, byte round)
    {
        var frame = new byte[14 + 20 + 20 + 1];
        frame[0] = 0x02; frame[5] = 0x01; frame[6] = 0x02; frame[11] = 0x02;
        frame[12] = 0x08;
        frame[14] = 0x45;
        frame[16] = 0; frame[17] = 41;
        frame[22] = 64; frame[23] = 6;
        frame[26] = 198; frame[27] = 18; frame[28] = 0; frame[29] = 1;
        frame[30] = 198; frame[31] = 18; frame[32] = 0; frame[33] = 2;
        frame[34] = (byte)(port >> 8); frame[35] = (byte)port;
        frame[36] = 0; frame[37] = 80;
        frame[46] = 0x50;
        frame[^1] = round;
        return frame;
    }

    [Fact]
    public async Task A_host_process_binds_over_the_control_socket_and_the_frame_path_works_both_ways()
    {
        string socket = Path.Combine(_dir.Path, "control.sock");
        using var host = Build("--Nic:MacAddress=02:00:00:00:aa:02", $"--Control:Endpoint={socket}");
        await host.StartAsync();
        await using var remote = await RemoteOffloadTarget.ConnectAsync(socket);
        Assert.Equal("02:00:00:00:aa:02", remote.MacAddress.ToString());
        Assert.Equal(1500, remote.Mtu);
        var received = new List<byte[]>();
        remote.Bind(new FrameHost(received));

        var arp = TestFrames.ArpRequest(7);
        PeerIo.Send(Peer(host), arp);
        PeerIo.WaitFor(() => { lock (received) return received.Count == 1; }, "the frame at the remote host");
        lock (received) Assert.Equal(arp, received[0]);

        var reply = TestFrames.ArpRequest(8);
        Assert.Equal(NdisStatus.Success, remote.SendFrame(reply));
        Assert.Equal(reply, PeerIo.ReceiveOne(Peer(host)));
        await host.StopAsync();
        Assert.False(File.Exists(socket)); // the server removed its socket file
    }
}
