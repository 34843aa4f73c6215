using OffloadEmu.Chimney;
using OffloadEmu.Link;
using OffloadEmu.Link.Devices;
using OffloadEmu.TestSupport;

namespace OffloadEmu.Target.Tests;

/// <summary>A frame the host hands over just before it stops the target still goes out (OffloadTarget.Dispose).</summary>
public sealed class StopDrainTests
{
    [Fact]
    public void A_host_frame_sent_just_before_dispose_reaches_the_wire()
    {
        // The host stack's last act before its application stops everything is often an ACK of the peer's FIN: a stop that
        // races the engine's wake-up must not drop it (the CLI's in-memory tests once left their peer in LAST-ACK).
        const int Rounds = 40;
        MemoryLink.CreatePair(out var nic, out var peer, new MemoryLinkOptions { Capacity = 4 * Rounds });
        using var _nic = nic;
        using var _peer = peer;
        var frame = new byte[60];
        peer.MacAddress.Write(frame);
        nic.MacAddress.Write(frame.AsSpan(6));
        frame[12] = 0x88;   // a local experimental EtherType: nothing parses it
        frame[13] = 0xB5;
        for (int i = 0; i < Rounds; i++)
        {
            var queue = new CompletionQueue();
            var target = new OffloadTarget(nic, new OffloadTargetOptions(), queue);
            target.Bind(new QuietHost());
            target.Start();
            frame[14] = (byte)i;
            Assert.Equal(NdisStatus.Success, target.SendFrame(frame));
            target.Dispose();
        }
        var rx = new FrameBuffer[Rounds * 2];
        var pool = new FramePool(2048, rx.Length);
        for (int i = 0; i < rx.Length; i++) rx[i] = pool.Rent();
        int got = peer.Receive(rx, 0);
        Assert.Equal(Rounds, got);
        for (int i = 0; i < got; i++) Assert.Equal((byte)i, rx[i].Span[14]);
    }

    private sealed class QuietHost : NullOffloadHost;
}
