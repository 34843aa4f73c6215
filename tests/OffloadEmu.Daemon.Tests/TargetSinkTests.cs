using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OffloadEmu.Chimney;
using OffloadEmu.Control.Client;
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
