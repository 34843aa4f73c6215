using OffloadEmu.Link.Capture;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Link.Devices;
using OffloadEmu.Wire;

namespace OffloadEmu.Link.Tests;

/// <summary>Segmentation offload at the link layer: the pcapng interface description, the MemoryLink stand-in, and
/// (as root) a TAP opened with TUNSETOFFLOAD as the kernel sees it.</summary>
public sealed class SegmentationOffloadLinkTests
{
    [Fact]
    public void Pcapng_interface_description_round_trips_and_tshark_shows_it()
    {
        using var dir = new TempDirectory();
        string file = Path.Combine(dir.Path, "d.pcapng");
        const string description = "segmentation offload on: super-segments";
        using (var fs = File.Create(file))
        using (var w = new PcapNgWriter(fs))
        {
            int a = w.AddInterface("oe0", PcapNgWriter.LinkTypeEthernet, 65_535, description);
            int b = w.AddInterface("oe1");
            w.WriteFrame(a, 1_000, TestFrames.Udp(1, 40), CaptureDirection.Inbound);
            w.WriteFrame(b, 2_000, TestFrames.Udp(2, 40), CaptureDirection.Outbound);
        }
        var reader = CaptureReader.Open(file);
        Assert.Equal(2, reader.ReadAll().Count());
        Assert.Equal(description, reader.Interfaces[0].Description);
        Assert.Null(reader.Interfaces[1].Description);
        if (!Tshark.Available) return;
        var rows = Tshark.Fields(file, "frame.interface_description");
        Assert.Equal(description, rows[0][0]);
        Assert.Equal(0, Tshark.Malformed(file));
    }

    [Fact]
    public void Capture_of_an_offloading_device_says_so_and_an_ordinary_one_does_not()
    {
        using var dir = new TempDirectory();
        foreach (bool offload in new[] { true, false })
        {
            MemoryLink.CreatePair(out var a, out var b, new MemoryLinkOptions { SegmentationOffload = offload, Capacity = 8 });
            string file = Path.Combine(dir.Path, $"c{offload}.pcapng");
            using (var capture = new CaptureDevice(a, file))
            {
                var pool = new FramePool(FramePool.SuperFrameBufferSize, 4);
                var frame = pool.Rent();
                var bytes = TestFrames.Udp(3, 100);
                bytes.CopyTo(frame.Array, 0);
                frame.Length = bytes.Length;
                frame.Offload = offload ? new VirtioNetHeader { Flags = VirtioNetHeaderFlags.NeedsChecksum, ChecksumStart = 34, ChecksumOffset = 6 } : default;
                Assert.Equal(1, capture.Send([frame]));
            }
            b.Dispose();
            var reader = CaptureReader.Open(file);
            Assert.Single(reader.ReadAll());
            Assert.Equal(offload ? CaptureDevice.SegmentationOffloadDescription : null, reader.Interfaces[0].Description);
        }
    }

    [Fact]
    public void MemoryLink_carries_the_offload_metadata_and_super_frames()
    {
        MemoryLink.CreatePair(out var a, out var b, new MemoryLinkOptions { SegmentationOffload = true, Capacity = 4 });
        using var _a = a;
        using var _b = b;
        Assert.True((a.Checksums & ChecksumCapabilities.SegmentationOffload) != 0);
        var pool = new FramePool(FramePool.SuperFrameBufferSize, 4);
        var frame = pool.Rent();
        frame.Length = 60_000;
        var header = new VirtioNetHeader { Flags = VirtioNetHeaderFlags.NeedsChecksum, GsoType = VirtioNetGsoType.TcpV4, GsoSize = 1448, HeaderLength = 66, ChecksumStart = 34, ChecksumOffset = 16 };
        frame.Offload = header;
        Assert.Equal(1, a.Send([frame]));
        var got = new[] { pool.Rent() };
        Assert.Equal(1, b.Receive(got, 0));
        Assert.Equal(60_000, got[0].Length);
        Assert.Equal(header, got[0].Offload);
        Assert.Equal(1, a.Statistics.SuperFramesOut);
        Assert.Equal(1, b.Statistics.SuperFramesIn);
        // A rented buffer starts with no offload metadata.
        pool.Return(got[0]);
        Assert.Equal(VirtioNetHeader.None, pool.Rent().Offload);
    }

    [Fact]
    public void Tap_in_segmentation_offload_mode_offers_tso_to_the_kernel()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root" || !File.Exists("/dev/net/tun")) return;
        string name = $"oetso{Environment.ProcessId % 100000}";
        using (var plain = new TapDevice(new TapDeviceOptions { Name = name }))
        {
            Assert.Equal(ChecksumCapabilities.None, plain.Checksums);
            Assert.Contains("tcp-segmentation-offload: off", Cmd.Run("ethtool", "-k", name), StringComparison.Ordinal);
        }
        using var tap = new TapDevice(new TapDeviceOptions { Name = name, SegmentationOffload = true });
        Assert.True(tap.SegmentationOffload);
        Assert.Equal(ChecksumCapabilities.TxOffload | ChecksumCapabilities.RxValidated | ChecksumCapabilities.SegmentationOffload, tap.Checksums);
        Assert.Contains("segmentation offload", tap.ToString(), StringComparison.Ordinal);
        // TUNSETOFFLOAD reached the kernel: the TAP now offers checksum and TCP segmentation offload to its stack.
        string features = Cmd.Run("ethtool", "-k", name);
        Assert.Contains("tcp-segmentation-offload: on", features, StringComparison.Ordinal);
        Assert.Contains("tx-checksumming: on", features, StringComparison.Ordinal);
    }

    [Fact]
    public void A_persistent_tap_opened_again_without_the_mode_has_its_offloads_cleared()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root" || !File.Exists("/dev/net/tun")) return;
        string name = $"oetsp{Environment.ProcessId % 100000}";
        try
        {
            using (new TapDevice(new TapDeviceOptions { Name = name, Persist = true, SegmentationOffload = true }))
                Assert.Contains("tcp-segmentation-offload: on", Cmd.Run("ethtool", "-k", name), StringComparison.Ordinal);
            // Still on after the descriptor closed (the TAP persists), until a plain open clears it: otherwise the kernel
            // would keep sending GSO frames with partial checksums to a reader that verifies every checksum.
            Assert.Contains("tcp-segmentation-offload: on", Cmd.Run("ethtool", "-k", name), StringComparison.Ordinal);
            using (var plain = TapDevice.Attach(name))
            {
                Assert.Equal(ChecksumCapabilities.None, plain.Checksums);
                string features = Cmd.Run("ethtool", "-k", name);
                Assert.Contains("tcp-segmentation-offload: off", features, StringComparison.Ordinal);
                Assert.Contains("tx-checksumming: off", features, StringComparison.Ordinal);
            }
        }
        finally
        {
            Cmd.TryRun("ip", "link", "del", name);
        }
    }
}
