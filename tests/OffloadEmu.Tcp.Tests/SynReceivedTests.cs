using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>RFC 9293 §3.10.7.4 in SYN-RECEIVED (passive open).</summary>
public class SynReceivedTests
{
    [Fact]
    public void Ack_CompletesTheHandshake()
    {
        var h = SynReceived();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1, Window = 1000 });
        Assert.Equal(TcpState.Established, h.M.State);
        Assert.Equal(TcpEvents.Connected, h.M.TakeEvents());
        Assert.Equal(1000u, h.M.SndWnd);
        Assert.Equal(LocalSeq + 1, h.M.SndUna);
        h.ExpectNothing();
    }

    [Fact]
    public void AckWithData_CompletesTheHandshake_AndDeliversTheData()
    {
        var h = SynReceived();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 }, "abc");
        Assert.Equal(TcpState.Established, h.M.State);
        Assert.Equal("abc", h.ReadAll());
    }

    [Fact]
    public void UnacceptableAck_IsAnsweredWithReset()
    {
        var h = SynReceived();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 7 });
        h.Expect(RecvTemplate with { Flags = TcpFlags.Rst, SequenceNumber = LocalSeq + 7, Window = 0 });
        Assert.Equal(TcpState.SynRcvd, h.M.State);
    }

    [Fact]
    public void RetransmittedSyn_IsAnsweredWithTheSynAckAgain()
    {
        var h = SynReceived();
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, Options = new TcpOptions { MaxSegmentSize = 1460 } });
        h.Expect(RecvTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = LocalSeq,
            AckNumber = RemoteSeq + 1,
            Options = new TcpOptions { MaxSegmentSize = 1460 },
        });
        Assert.Equal(1ul, h.M.Statistics.RetransmittedSegments);
    }

    [Fact]
    public void SynAck_IsRetransmittedOnTimeout()
    {
        var h = SynReceived();
        h.Advance(1000);
        var again = h.Recv().Single();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, again.Flags);
        Assert.Equal(LocalSeq, again.Seq);
    }

    [Fact]
    public void ExactRst_FromAPassiveOpen_ReturnsToListen()
    {
        var h = SynReceived();
        h.M.TakeEvents();
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 1 });
        Assert.Equal(TcpState.Listen, h.M.State);
        Assert.Equal(TcpEvents.ReturnedToListen, h.M.TakeEvents());
        Assert.Equal(0, h.M.RemotePort);
        h.ExpectNothing();
        // The half-open connection is forgotten: no SYN-ACK retransmission follows.
        Assert.Equal(Instant.MaxValue, h.M.PollAt());
        h.Advance(10_000);
        h.ExpectNothing();

        // And the machine listens again: a SYN from another port of the same remote address is answered.
        h.Send(SendTemplate with { SourcePort = 49600, Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq + 5000, Options = new TcpOptions { MaxSegmentSize = 1000 } });
        h.Expect(RecvTemplate with
        {
            DestinationPort = 49600,
            Flags = TcpFlags.Syn,
            SequenceNumber = LocalSeq,
            AckNumber = RemoteSeq + 5001,
            Options = new TcpOptions { MaxSegmentSize = 1460 },
        });
        Assert.Equal(TcpState.SynRcvd, h.M.State);
        Assert.Equal(1000, h.M.EffectiveMss);
        h.Send(SendTemplate with { SourcePort = 49600, SequenceNumber = RemoteSeq + 5001, AckNumber = LocalSeq + 1 }, "xy");
        Assert.Equal(TcpState.Established, h.M.State);
        Assert.Equal("xy", h.ReadAll());
    }

    [Fact]
    public void ExactRst_FromAPassiveOpen_DropsQueuedData()
    {
        var h = SynReceived();
        h.Enqueue("queued before the handshake ended");
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 1 });
        Assert.Equal(TcpState.Listen, h.M.State);
        Assert.Equal(0, h.M.SendQueueBytes);
        Assert.Equal(0, h.M.UnsentBytes);
    }

    [Fact]
    public void InWindowRst_GetsAChallengeAck_AndStaysInSynReceived()
    {
        var h = SynReceived();
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 10 });
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.Equal(TcpState.SynRcvd, h.M.State);
    }

    [Fact]
    public void ExactRst_InASimultaneousOpen_Closes()
    {
        var h = SynSent();
        // The peer's SYN crosses ours: SYN-RECEIVED from an active open, our SYN goes again with an ACK.
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, Options = new TcpOptions { MaxSegmentSize = 1460 } });
        Assert.Equal(TcpState.SynRcvd, h.M.State);
        Assert.False(h.M.IsPassiveOpen);
        h.Expect(RecvTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = LocalSeq,
            AckNumber = RemoteSeq + 1,
            Options = new TcpOptions { MaxSegmentSize = 1460 },
        });
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 1 });
        Assert.Equal(TcpState.Closed, h.M.State);
        Assert.Equal(TcpEvents.Reset | TcpEvents.Closed, h.M.TakeEvents());
        h.ExpectNothing();
    }

    [Fact]
    public void SynAckRetransmissionLimit_FromAPassiveOpen_ReturnsToListen()
    {
        var h = SynReceived(Config(c => c with { MaxRetransmissions = 2 }));
        h.M.TakeEvents();
        h.Advance(1000);
        Assert.Equal(LocalSeq, h.Recv().Single().Seq);
        h.Advance(2000);
        Assert.Equal(LocalSeq, h.Recv().Single().Seq);
        h.Advance(3999);
        h.ExpectNothing();
        Assert.Equal(TcpState.SynRcvd, h.M.State);
        h.Advance(1);
        h.ExpectNothing();
        Assert.Equal(TcpState.Listen, h.M.State);
        Assert.Equal(TcpEvents.ReturnedToListen, h.M.TakeEvents());
        Assert.Equal(Instant.MaxValue, h.M.PollAt());
    }

    [Fact]
    public void SynAckRetransmissionLimit_InASimultaneousOpen_IsReported()
    {
        var h = SynSent(Config(c => c with { MaxRetransmissions = 1 }));
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, Options = new TcpOptions { MaxSegmentSize = 1460 } });
        Assert.Single(h.Recv());
        h.Advance(1000);
        Assert.Single(h.Recv());
        h.Advance(2000);
        h.ExpectNothing();
        Assert.Equal(TcpState.SynRcvd, h.M.State);
        Assert.True(h.M.TakeEvents().HasFlag(TcpEvents.RetransmitTimeout));
    }

    [Fact]
    public void SegmentWithoutAck_IsDropped()
    {
        var h = SynReceived();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1 }, "abc");
        Assert.Equal(TcpState.SynRcvd, h.M.State);
        Assert.Equal("", h.ReadAll());
    }

    [Fact]
    public void Close_SendsFinAfterTheHandshake()
    {
        var h = SynReceived();
        h.M.Close();
        Assert.Equal(TcpState.FinWait1, h.M.State);
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 });
        h.Expect(RecvTemplate with { Flags = TcpFlags.Fin, SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
    }
}
