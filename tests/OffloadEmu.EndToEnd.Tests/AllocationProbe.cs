using OffloadEmu.Link;
using OffloadEmu.Wire;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>Checks a real device's Send/Receive hot path allocates nothing after warm-up (10,000 frames).</summary>
internal static class AllocationProbe
{
    /// <summary>
    /// Sends 1514-byte frames to <paramref name="kernelMac"/> with EtherType 0x88B5 (local
    /// experimental; the kernel has no handler and drops them) and polls Receive, 10,000 of each.
    /// </summary>
    internal static void AssertSendReceiveAllocationFree(ILinkDevice device, MacAddress ourMac, MacAddress kernelMac)
    {
        var pool = new FramePool(2048, 64);
        var tx = new FrameBuffer[16];
        var rx = new FrameBuffer[16];
        for (int i = 0; i < tx.Length; i++)
        {
            var f = pool.Rent();
            f.Capacity[..1514].Fill(0x5a);
            kernelMac.Write(f.Capacity);
            ourMac.Write(f.Capacity[6..]);
            f.Capacity[12] = 0x88; f.Capacity[13] = 0xb5;
            f.Length = 1514;
            tx[i] = f;
            rx[i] = pool.Rent();
        }

        void Run(int rounds)
        {
            for (int r = 0; r < rounds; r++)
            {
                device.Send(tx);
                device.Receive(rx, 0);
            }
        }

        long sentBefore = device.Statistics.FramesOut;
        long receivedBefore = device.Statistics.FramesIn;
        Run(100);   // warm-up: JIT tiering, statics, libpcap's first-call setup
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(10_000 / tx.Length);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(100 * 16 + 10_000, device.Statistics.FramesOut - sentBefore);
        Assert.Equal(0, device.Statistics.Drops(DropReason.IoError));
        // The kernel drops these frames, so nearly nothing comes back: in particular the device
        // must not read its own 10,000 transmissions (PACKET_IGNORE_OUTGOING / PCAP_D_IN).
        Assert.InRange(device.Statistics.FramesIn - receivedBefore, 0, 15);
    }
}
