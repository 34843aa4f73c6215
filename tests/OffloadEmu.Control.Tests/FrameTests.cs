using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Tests;

public sealed class FrameTests
{
    private static byte[] Arp(MacAddress source, byte tag)
    {
        var frame = new byte[60];
        MacAddress.Broadcast.Write(frame);
        source.Write(frame.AsSpan(6));
        frame[12] = 0x08;
        frame[13] = 0x06;
        frame[59] = tag;
        return frame;
    }

    [Fact]
    public async Task Non_offload_frames_go_down_from_a_client_and_up_to_every_bound_client()
    {
        await using var lab = new LiveLab();
        var hostA = new TestHost();
        var hostB = new TestHost();
        await using var a = lab.Connect(hostA, "a");
        await using var b = lab.Connect(hostB, "b");

        // Down: the host's own frames reach the wire unchanged; impossible lengths fail locally.
        var down = Arp(lab.NicSide.MacAddress, 1);
        Assert.Equal(NdisStatus.Success, a.SendFrame(down));
        Assert.Equal(NdisStatus.Failure, a.SendFrame(new byte[10]));
        Assert.Equal(NdisStatus.Failure, a.SendFrame(new byte[a.Mtu + 100]));
        var end = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < end && lab.OtherFrameCount == 0) await Task.Delay(5);
        Assert.Equal(down, lab.OtherFrames.Single());

        // Up: a frame no offloaded connection takes goes to every bound client, like a NIC to every bound protocol.
        for (byte i = 0; i < 20; i++) lab.InjectFrame(Arp(lab.PeerSide.MacAddress, i));
        Assert.True(hostA.WaitFor(h => h.Frames.Count == 20, TimeSpan.FromSeconds(10)));
        Assert.True(hostB.WaitFor(h => h.Frames.Count == 20, TimeSpan.FromSeconds(10)));
        for (byte i = 0; i < 20; i++)
        {
            Assert.Equal(Arp(lab.PeerSide.MacAddress, i), hostA.Locked(h => h.Frames[i]));
            Assert.Equal(Arp(lab.PeerSide.MacAddress, i), hostB.Locked(h => h.Frames[i]));
        }
    }

    /// <summary>
    /// The server's close with a reason waits for the client to take it and close (docs/control.md, "Closing with a
    /// reason"): here the client's receive thread is held 400 ms in a host callback (inline callbacks) when the server is
    /// disposed, so the Shutdown message sits unread; when DisposeAsync returns the client has read it and reads as
    /// disconnected. Before, DisposeAsync returned once the message was in the socket, with the client still connected
    /// (StopWithOffloadedConnectionTests saw that once under load).
    /// </summary>
    [Fact]
    public async Task Server_dispose_returns_once_the_client_has_read_the_shutdown_and_closed()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        using var inCallback = new ManualResetEventSlim();
        host.AfterFrame = () =>
        {
            inCallback.Set();
            Thread.Sleep(400);
        };
        await using var client = lab.Connect(host, inlineCallbacks: true);
        lab.InjectFrame(Arp(lab.PeerSide.MacAddress, 1));
        Assert.True(inCallback.Wait(TimeSpan.FromSeconds(10)), "no frame reached the host");
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await lab.Server.DisposeAsync();
        Assert.False(client.IsConnected, $"still connected {stopping.ElapsedMilliseconds} ms into the stop, when it returned");
        Assert.Equal(ProtocolError.Shutdown, client.CloseError);
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(5), $"the stop took {stopping.Elapsed}");
    }

    [Fact]
    public async Task Statistics_and_adapter_status_reach_the_client()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = lab.Connect(host);
        var (peer, machine) = lab.Establish(40401);
        var root = lab.BuildTree(machine, 0x100, out _);
        client.InitiateOffload(root);
        Assert.True(host.WaitFor(h => h.Initiated.Contains(root), TimeSpan.FromSeconds(30)));
        lab.PeerSend(peer, Nbls.Pattern(10_000, 1));
        Assert.True(host.WaitFor(h => h.Received.Length == 10_000, TimeSpan.FromSeconds(30)));
        var stats = client.QueryTcpStatistics(ipv6: false);
        Assert.Equal(lab.Target.QueryTcpStatistics(false).InSegments, stats.InSegments);
        Assert.True(stats.InSegments > 0);
        Assert.Equal(1UL, stats.CurrentlyEstablished);
        Assert.True(client.QueryIpStatistics(false).InOctets > 10_000);
        client.ResetStatistics(false);
        Assert.Equal(0UL, client.QueryTcpStatistics(false).InSegments);

        lab.Target.IndicatePause();
        lab.Target.IndicateUploadAll();
        Assert.True(host.WaitFor(h => h.Statuses.Count == 2, TimeSpan.FromSeconds(10)));
        Assert.Equal([NdisStatus.OffloadPause, NdisStatus.UploadAll], host.Locked(h => h.Statuses.ToList()));
    }

    [Fact]
    public async Task New_capabilities_at_a_resume_reach_the_client_before_its_resume_callback()
    {
        // Chimney §10 row 56 over the control socket: the server sends the target's current capabilities with every
        // adapter status, so a host that re-reads them in its OFFLOAD_RESUME callback gets the new set.
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = lab.Connect(host);
        var configured = client.CurrentCapabilities;
        var reduced = configured with { TcpConnectionOffloadCapacity = 2, SupportSack = false, SupportIPv6 = false };
        Assert.NotEqual(configured, reduced);
        lab.Target.IndicatePause();
        Assert.True(host.WaitFor(h => h.Statuses.Count == 1, TimeSpan.FromSeconds(10)));
        lab.Target.IndicateResume(reduced);
        Assert.True(host.WaitFor(h => h.Statuses.Count == 2, TimeSpan.FromSeconds(10)));
        Assert.Equal([NdisStatus.OffloadPause, NdisStatus.OffloadResume], host.Locked(h => h.Statuses.ToList()));
        var read = host.Locked(h => h.CapabilitiesAtStatus.ToList());
        Assert.Equal(configured, read[0]);
        Assert.Equal(reduced, read[1]);
        Assert.Equal(reduced, client.CurrentCapabilities);
        Assert.Equal(configured, client.HardwareCapabilities);
    }
}
