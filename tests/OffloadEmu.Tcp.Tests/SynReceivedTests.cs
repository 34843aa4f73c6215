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
    public void ExactRst_Closes()
    {
        var h = SynReceived();
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq + 1 });
        Assert.Equal(TcpState.Closed, h.M.State);
        Assert.True(h.M.TakeEvents().HasFlag(TcpEvents.Reset));
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
