using Microsoft.Extensions.Logging;
using OffloadEmu.Link.Capture;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Link.Devices;
using OffloadEmu.Wire.Formatting;

namespace OffloadEmu.Link.Tests;

/// <summary>
/// The decorators stacked as the daemon stacks them — Tracing(Capture(Impairment(device))) — over a
/// real <see cref="MemoryLink"/> pair, traffic in both directions.
/// </summary>
public class DecoratorStackTests
{
    [Fact]
    public void Stack_over_memory_link_traces_captures_and_impairs_both_directions()
    {
        using var dir = new TempDirectory();
        string path = dir.File("stack.pcapng");
        MemoryLink.CreatePair(out var emu, out var peer);
        var logger = new TestLogger();
        // 10 % egress loss with a fixed seed; ingress untouched. Capture sits above the impairment
        // (the emulator's side), so it records every frame the emulator sent, lost or not.
        var impaired = new ImpairmentDevice(emu, ImpairmentSpec.None, ImpairmentSpec.Parse("loss 10%"), seed: 42);
        var captured = new CaptureDevice(impaired, path);
        using (var stack = new TracingDevice(captured, logger))
        {
            var pool = new FramePool(2048, 64);
            const int count = 200;
            var one = new FrameBuffer[1];
            for (int i = 0; i < count; i++)
            {
                one[0] = Fill(pool.Rent(), TestFrames.IcmpEcho(i));
                stack.Send(one);
                pool.Return(one[0]);
                one[0] = Fill(pool.Rent(), TestFrames.IcmpEcho(i, reply: true));
                peer.Send(one);
                pool.Return(one[0]);
            }

            // Every reply comes up through the stack; only the unlost requests reach the peer.
            int received = 0;
            var batch = new FrameBuffer[16];
            for (int i = 0; i < batch.Length; i++) batch[i] = pool.Rent();
            while (received < count)
            {
                int n = stack.Receive(batch, 1000);
                Assert.True(n > 0, $"only {received} of {count} replies came up");
                received += n;
            }
            int reachedPeer = 0;
            while (peer.Receive(batch, 0) is var n and > 0) reachedPeer += n;
            long lost = stack.Statistics.Drops(DropReason.Impairment);
            Assert.Equal(count, reachedPeer + lost);
            Assert.InRange(lost, 8, 35); // 10 % of 200 with a wide statistical margin

            // The tracer wrote one tcpdump line per frame, formatted exactly as the Wire formatter does.
            var lines = logger.Entries.Select(e => e.message).ToList();
            Assert.Equal(2 * count, lines.Count);
            string expected = new TcpdumpFormatter().Format(TestFrames.IcmpEcho(0));
            Assert.Contains(lines, l => l.Contains(expected));
        }

        // The capture holds every request (outbound) and every reply (inbound), read back by our reader.
        var frames = CaptureReader.Open(path).ReadAll().ToList();
        Assert.Equal(200, frames.Count(f => f.Direction == CaptureDirection.Outbound));
        Assert.Equal(200, frames.Count(f => f.Direction == CaptureDirection.Inbound));
        if (Tshark.Available)
        {
            Assert.Equal(0, Tshark.Malformed(path));
            Assert.Equal(400, Tshark.Fields(path, "frame.number").Length);
        }
    }

    private static FrameBuffer Fill(FrameBuffer b, byte[] frame)
    {
        frame.CopyTo(b.Capacity);
        b.Length = frame.Length;
        return b;
    }
}
