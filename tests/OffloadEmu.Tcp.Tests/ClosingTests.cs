using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>RFC 9293 §3.10.7.4 closing states: FIN-WAIT-1/2, CLOSING, TIME-WAIT, CLOSE-WAIT, LAST-ACK, and CLOSED.</summary>
public class ClosingTests
{
    private static TcpRepr Peer(int offset, int ackOffset, TcpFlags flags = TcpFlags.None)
        => SendTemplate with { Flags = flags, SequenceNumber = RemoteSeq + 1 + offset, AckNumber = LocalSeq + 1 + ackOffset };

    [Fact]
    public void FinWait1_AckOfFin_GoesToFinWait2_AndArmsTheFinWait2Timer()
    {
        var h = FinWait1();
        h.Send(Peer(0, 1));
        Assert.Equal(TcpState.FinWait2, h.M.State);
        Assert.Equal(h.Now + TimeSpan.FromSeconds(120), h.M.PollAt());
    }

    [Fact]
    public void FinWait1_FinAndAck_GoesToTimeWait()
    {
        var h = FinWait1();
        h.Send(Peer(0, 1, TcpFlags.Fin));
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 2, AckNumber = RemoteSeq + 2 });
        Assert.Equal(TcpState.TimeWait, h.M.State);
        Assert.Equal(TcpEvents.PeerClosed | TcpEvents.TimeWaitEntered, h.M.TakeEvents());
    }

    [Fact]
    public void TimeWait_ignores_a_reset_and_keeps_the_data_readable()
    {
        // RFC 1337 F1: the peer, already closed, answers our re-ACK of its duplicated FIN with a RST.
        var h = FinWait2();
        h.Send(Peer(0, 1, TcpFlags.Fin), "xy");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 2, AckNumber = RemoteSeq + 4, Window = BufferSize - 2 });
        Assert.Equal(TcpState.TimeWait, h.M.State);
        h.M.TakeEvents();
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 4 });
        h.ExpectNothing();
        Assert.Equal(TcpState.TimeWait, h.M.State);
        Assert.Equal(TcpEvents.None, h.M.TakeEvents() & TcpEvents.Reset);
        Assert.Equal(1ul, h.M.Statistics.TimeWaitResetsIgnored);
        Assert.Equal("xy", h.ReadAll());
    }

    [Fact]
    public void FinWait1_FinWithoutAckOfOurs_IsSimultaneousClose()
    {
        var h = Closing();
        h.Send(Peer(1, 1));
        Assert.Equal(TcpState.TimeWait, h.M.State);
    }

    [Fact]
    public void FinWait1_FinIsRetransmitted()
    {
        var h = FinWait1();
        h.Advance(1000);
        h.Expect(RecvTemplate with { Flags = TcpFlags.Fin, SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.Equal(1ul, h.M.Statistics.RetransmittedSegments);
    }

    [Fact]
    public void FinWait1_StillReceivesData()
    {
        var h = FinWait1();
        h.Send(Peer(0, 0), "late");
        Assert.Equal("late", h.ReadAll());
    }

    [Fact]
    public void FinWait1_DataQueuedBeforeClose_GoesFirstWithTheFinOnTheLastSegment()
    {
        var h = Established();
        h.Enqueue("tail");
        h.M.Close();
        h.Expect(RecvTemplate with { Flags = TcpFlags.Fin | TcpFlags.Psh, SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1, PayloadLength = 4 });
        Assert.False(h.M.Enqueue(new MemorySendBuffer(new byte[1])));
    }

    [Fact]
    public void FinWait2_Fin_GoesToTimeWait()
    {
        var h = FinWait2();
        h.Send(Peer(0, 1, TcpFlags.Fin), "xy");
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 2, AckNumber = RemoteSeq + 4, Window = BufferSize - 2 });
        Assert.Equal(TcpState.TimeWait, h.M.State);
        Assert.Equal("xy", h.ReadAll());
    }

    [Fact]
    public void FinWait2_TimerExpiry_ClosesAndReports()
    {
        var h = FinWait2();
        h.Advance(60_000);
        h.Send(Peer(0, 1)); // an acceptable segment restarts the timer
        h.Advance(119_999);
        h.ExpectNothing();
        Assert.Equal(TcpState.FinWait2, h.M.State);
        h.Advance(1);
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, h.M.State);
        Assert.Equal(TcpEvents.FinWait2Timeout | TcpEvents.Closed, h.M.TakeEvents());
    }

    [Fact]
    public void Closing_AckOfFin_GoesToTimeWait()
    {
        var h = Closing();
        h.Send(Peer(1, 1));
        Assert.Equal(TcpState.TimeWait, h.M.State);
        Assert.Equal(TcpEvents.TimeWaitEntered, h.M.TakeEvents());
    }

    [Fact]
    public void TimeWait_RetransmittedFin_IsAckedAndRestartsTwoMsl()
    {
        var h = TimeWait();
        h.Advance(30_000);
        h.Send(Peer(0, 1, TcpFlags.Fin));
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 2, AckNumber = RemoteSeq + 2 });
        Assert.Equal(h.Now + TimeSpan.FromSeconds(60), h.M.PollAt());
    }

    [Fact]
    public void TimeWait_ClosesAfterTwoMsl()
    {
        var h = TimeWait(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, Msl = TimeSpan.FromSeconds(2), IsnGenerator = c.IsnGenerator }));
        h.Advance(3999);
        h.ExpectNothing();
        Assert.Equal(TcpState.TimeWait, h.M.State);
        h.Advance(1);
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, h.M.State);
        Assert.Equal(TcpEvents.Closed, h.M.TakeEvents());
    }

    [Fact]
    public void CloseWait_Close_SendsFinAndGoesToLastAck()
    {
        var h = LastAck();
        h.Send(Peer(1, 1));
        Assert.Equal(TcpState.Closed, h.M.State);
        Assert.Equal(TcpEvents.Closed, h.M.TakeEvents());
        h.ExpectNothing();
    }

    [Fact]
    public void LastAck_FinIsRetransmitted()
    {
        var h = LastAck();
        h.Advance(1000);
        h.Expect(RecvTemplate with { Flags = TcpFlags.Fin, SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 2 });
    }

    [Fact]
    public void CloseWait_DataAfterTheFin_IsNotAccepted()
    {
        var h = CloseWait();
        h.Send(Peer(1, 0), "ghost");
        Assert.Equal("", h.ReadAll());
        Assert.Equal(RemoteSeq + 2, h.M.RcvNxt);
    }

    [Fact]
    public void Abort_SendsRstAndCloses()
    {
        var h = Established();
        h.M.Abort();
        h.Expect(RecvTemplate with { Flags = TcpFlags.Rst, SequenceNumber = LocalSeq + 1, Window = 0 });
        Assert.Equal(TcpState.Closed, h.M.State);
        Assert.Equal(1ul, h.M.Statistics.OutResets);
    }

    [Fact]
    public void Closed_AnswersSegmentsWithReset()
    {
        var h = Established();
        h.M.Abort();
        h.Recv();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 });
        h.Expect(RecvTemplate with { Flags = TcpFlags.Rst, SequenceNumber = LocalSeq + 1, Window = 0 });
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq }, "ab");
        h.Expect(RecvTemplate with { Flags = TcpFlags.Rst, SequenceNumber = new SeqNumber(0), AckNumber = RemoteSeq + 3, Window = 0 });
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq });
        h.ExpectNothing();
    }
}
