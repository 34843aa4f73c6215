using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>Persist timer (zero-window probing), keep-alive, and sender-side window limits.</summary>
public class WindowTests
{
    private static TcpRepr PeerAck(int ackOffset, ushort window)
        => SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 + ackOffset, Window = window };

    private static readonly TcpRepr Probe = RecvTemplate with { SequenceNumber = LocalSeq, AckNumber = RemoteSeq + 1 };

    [Fact]
    public void An_ack_that_advances_SndUna_takes_its_window_even_from_an_older_segment()
    {
        // Found against the Linux kernel: its data segments arrive out of order (it retransmits older data after newer),
        // so the newest ACK and window often ride on a segment with a lower SEQ than the last window update. RFC 9293's
        // WL1/WL2 test alone would keep the old, larger window while SND.UNA advances, moving the right edge past the
        // peer's (138 KB past it in the kernel test). Like Linux (tcp_may_update_window), an ACK that advances SND.UNA
        // always updates the window.
        var h = Established(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, Nagle = false, IsnGenerator = c.IsnGenerator }));
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1 + 500, AckNumber = LocalSeq + 1, Window = 60000 }, "newer"); // out of order
        h.Recv();
        Assert.Equal(60000u, h.M.SndWnd);
        h.Enqueue(new byte[4000]);
        h.Recv();
        // An older segment (SEQ below the last update) acknowledging 1000 bytes and closing the window to 100.
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 + 1000, Window = 100 }, "older");
        Assert.Equal(100u, h.M.SndWnd);
        // Nothing beyond the peer's right edge (ack + 100) may be sent.
        foreach (var seg in h.Recv())
            Assert.True(seg.Repr.PayloadLength == 0 || seg.Repr.SequenceNumber + seg.Repr.PayloadLength <= LocalSeq + 1 + 1000 + 100,
                $"sent {seg.Repr.SequenceNumber}+{seg.Repr.PayloadLength} past the right edge {LocalSeq + 1 + 1000 + 100}");
    }

    [Fact]
    public void ZeroWindow_IsProbedWithBackoff_AndDataResumesWhenItOpens()
    {
        var h = Established();
        h.Send(PeerAck(0, 0));
        h.Enqueue("data");
        h.ExpectNothing();
        Assert.Equal(h.Now.AddMicroseconds(1_000_000), h.M.PollAt());
        h.Advance(1000);
        h.Expect(Probe with { SequenceNumber = LocalSeq + 0 });
        h.Send(PeerAck(0, 0)); // answered, still zero: keep probing (MUST-37), further apart (SHLD-30)
        h.Advance(1999);
        h.ExpectNothing();
        h.Advance(1);
        h.Expect(Probe);
        Assert.Equal(2ul, h.M.Statistics.WindowProbes);
        h.Send(PeerAck(0, 1000));
        h.ExpectOne(RecvTemplate with { Flags = TcpFlags.Psh, SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1, PayloadLength = 4 });
        Assert.Equal(0, h.M.SndWndProbeCount);
    }

    [Fact]
    public void ZeroWindow_AnsweredProbesKeepTheConnectionIndefinitely()
    {
        var h = Established(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, MaxRetransmissions = 2, IsnGenerator = c.IsnGenerator }));
        h.Send(PeerAck(0, 0));
        h.Enqueue("data");
        h.Recv();
        for (int i = 0; i < 10; i++)
        {
            h.Advance(60_000);
            Assert.Single(h.Recv());
            h.Send(PeerAck(0, 0));
        }
        Assert.Equal(TcpEvents.None, h.M.TakeEvents());
    }

    [Fact]
    public void ZeroWindow_UnansweredProbesAreReported()
    {
        var h = Established(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, MaxRetransmissions = 2, IsnGenerator = c.IsnGenerator }));
        h.Send(PeerAck(0, 0));
        h.Enqueue("data");
        h.Recv();
        for (int i = 0; i < 3; i++)
        {
            h.Advance(60_000);
            h.Recv();
        }
        Assert.Equal(TcpEvents.PersistTimeout, h.M.TakeEvents());
    }

    [Fact]
    public void SmallWindow_PersistExpiryOverridesSenderSws()
    {
        var h = Established();
        h.Send(PeerAck(0, 100));
        h.Enqueue(new byte[2000]);
        // 100 bytes: neither a full segment, nor the end of the queue, nor half of the largest window seen (4096).
        h.ExpectNothing();
        h.Advance(1000);
        var forced = h.Recv().Single();
        Assert.Equal(100, forced.Payload.Length);
    }

    [Fact]
    public void KeepAlive_ProbesAfterIdle_AndReportsDeath()
    {
        var config = Config(c => new TcpConfig
        {
            Timestamps = false,
            WindowScaling = false,
            ReceiveBufferSize = BufferSize,
            KeepAlive = true,
            KaTimeoutTicks = 10_000,
            KaIntervalTicks = 1000,
            KaProbeCount = 3,
            IsnGenerator = c.IsnGenerator,
        });
        var h = Established(config);
        h.Advance(9999);
        h.ExpectNothing();
        h.Advance(1);
        h.Expect(Probe);
        h.Send(PeerAck(0, 4096)); // answered: back to the idle timeout
        h.Advance(1000);
        h.ExpectNothing();
        h.Advance(9000);
        h.Expect(Probe);
        h.Advance(1000);
        h.Expect(Probe);
        h.Advance(1000);
        h.Expect(Probe);
        Assert.Equal(TcpEvents.None, h.M.TakeEvents());
        h.Advance(1000);
        h.ExpectNothing();
        Assert.Equal(TcpEvents.KeepAliveTimeout, h.M.TakeEvents());
        Assert.Equal(4ul, h.M.Statistics.KeepAliveProbes);
    }

    [Fact]
    public void KeepAlive_OffByDefault()
    {
        var h = Established();
        h.Advance(3 * 3600 * 1000);
        h.ExpectNothing();
    }

    [Fact]
    public void Peer_ShrinkingItsWindow_StopsNewData()
    {
        var h = Established(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, Nagle = false, IsnGenerator = c.IsnGenerator }));
        h.Enqueue(new byte[3000]);
        Assert.Equal(3, h.Recv().Count);
        // SHLD-15: the window moves left of what we sent; send nothing new, retransmit old data on timeout only.
        h.Send(PeerAck(0, 1000));
        h.ExpectNothing();
        h.Advance(1000);
        Assert.Equal(LocalSeq + 1, h.Recv().Single().Seq);
    }
}
