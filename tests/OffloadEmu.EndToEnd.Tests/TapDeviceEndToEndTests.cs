using OffloadEmu.Link;
using OffloadEmu.Link.Devices;
using OffloadEmu.Wire;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// TapDevice against the kernel: the TAP is created and attached in the root namespace (TUNSETIFF
/// finds devices only in the caller's namespace), then moved into the test namespace, where the
/// kernel side gets 198.18.250.1/24. The fd keeps working across the move.
/// </summary>
[Trait("Category", "Privileged")]
public sealed class TapDeviceEndToEndTests
{
    [Fact]
    public void Arp_and_ping_the_kernel_through_a_tap()
    {
        if (!Privileged.ShouldRun()) return;
        using var ns = new TestNamespace("tap");
        string tapName = $"oet{Environment.ProcessId}";
        using var tap = new TapDevice(new TapDeviceOptions { Name = tapName });
        Assert.Equal(tapName, tap.Name);
        Assert.Equal(TapDevice.DeriveMac(tapName), tap.MacAddress);
        Assert.Equal(1500, tap.Mtu);

        // Pitfall 3: writing while the TAP is admin-down fails with EIO; it must be a counted drop.
        var pool = new FramePool(2048, 4);
        var frame = pool.Rent();
        frame.Length = TestFrames.ArpRequest(frame.Capacity, tap.MacAddress, new Ipv4Address(198, 18, 250, 2), new Ipv4Address(198, 18, 250, 1));
        Assert.Equal(0, tap.Send(new[] { frame }));
        Assert.Equal(1, tap.Statistics.Drops(DropReason.InterfaceDown));
        Assert.Equal(0, tap.Receive(new[] { frame }, 0));
        pool.Return(frame);

        Cmd.Run("ip", "link", "set", tapName, "netns", ns.Name);
        ns.ConfigureInside(tapName, "198.18.250.1/24");
        var before = tap.Statistics.TotalDrops;

        DeviceExchangeAssertions.ArpAndPingUnderCapture(tap, ns.Name, tapName, tap.MacAddress,
            new Ipv4Address(198, 18, 250, 2), new Ipv4Address(198, 18, 250, 1), tap.PeerMacAddress, before);
    }

    [Fact]
    public void Arp_and_ping_with_the_virtio_net_header_on()
    {
        if (!Privileged.ShouldRun()) return;
        using var ns = new TestNamespace("tvh");
        string tapName = $"oeh{Environment.ProcessId}";
        using var tap = new TapDevice(new TapDeviceOptions { Name = tapName, VnetHeader = true });
        Cmd.Run("ip", "link", "set", tapName, "netns", ns.Name);
        ns.ConfigureInside(tapName, "198.18.246.1/24");
        DeviceExchangeAssertions.ArpAndPingUnderCapture(tap, ns.Name, tapName, tap.MacAddress,
            new Ipv4Address(198, 18, 246, 2), new Ipv4Address(198, 18, 246, 1), tap.PeerMacAddress);
    }

    [Fact]
    public void Send_and_receive_allocate_nothing_after_warm_up()
    {
        if (!Privileged.ShouldRun()) return;
        using var ns = new TestNamespace("tza");
        string tapName = $"oea{Environment.ProcessId}";
        using var tap = new TapDevice(new TapDeviceOptions { Name = tapName });
        Cmd.Run("ip", "link", "set", tapName, "netns", ns.Name);
        ns.ConfigureInside(tapName, "198.18.249.1/24");

        AllocationProbe.AssertSendReceiveAllocationFree(tap, tap.MacAddress, tap.PeerMacAddress);
        Assert.Equal(0, tap.Statistics.TotalDrops);
    }

    [Fact]
    public void Dispose_is_idempotent_and_a_pattern_name_is_resolved()
    {
        if (!Privileged.ShouldRun()) return;
        var tap = new TapDevice(new TapDeviceOptions { Name = "oetp%d" });
        Assert.StartsWith("oetp", tap.Name);
        Assert.DoesNotContain("%", tap.Name);
        tap.Dispose();
        tap.Dispose();
        Assert.Throws<ObjectDisposedException>(() => tap.Receive(new FrameBuffer[1], 0));
    }
}
