using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>RFC 9293 §3.10.7.3: a machine in SYN-SENT (active open).</summary>
public class SynSentTests
{
    private static readonly TcpRepr SynAck = SendTemplate with
    {
        Flags = TcpFlags.Syn,
        SequenceNumber = RemoteSeq,
        AckNumber = LocalSeq + 1,
        Options = new TcpOptions { MaxSegmentSize = 1460 },
    };

    [Fact]
    public void Connect_SendsSynWithMss()
    {
        var clock = new ManualClock();
        var m = TcpMachine.Connect(Config(), Addresses, LocalPort, RemotePort, clock.Now, LocalSeq, 0);
        var h = new Harness(m, clock);
        h.Expect(RecvTemplate with { Flags = TcpFlags.Syn, SequenceNumber = LocalSeq, Options = new TcpOptions { MaxSegmentSize = 1460 } });
        Assert.Equal(TcpState.SynSent, m.State);
        Assert.Equal(LocalSeq + 1, m.SndNxt);
        h.ExpectNothing();
    }

    [Fact]
    public void Connect_OffersWindowScaleAndTimestamps_WhenConfigured()
    {
        var clock = new ManualClock();
        var config = new TcpConfig { ReceiveBufferSize = 200 * 1024, IsnGenerator = new IsnGenerator(new byte[32]) };
        var m = TcpMachine.Connect(config, Addresses, LocalPort, RemotePort, clock.Now, LocalSeq, 100);
        var h = new Harness(m, clock);
        var syn = h.Recv().Single();
        Assert.Equal((byte)2, syn.Repr.Options.WindowScale);
        Assert.Equal(new TcpTimestamps(m.TsValAt(clock.Now), 0), syn.Repr.Options.Timestamps);
        Assert.Equal((ushort)65535, syn.Repr.Window);
    }

    [Fact]
    public void SynAck_CompletesTheHandshake()
    {
        var h = SynSent();
        h.Send(SynAck);
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.Equal(TcpState.Established, h.M.State);
        Assert.Equal(TcpEvents.Connected, h.M.TakeEvents());
        Assert.Equal(LocalSeq + 1, h.M.SndUna);
        Assert.Equal(4096u, h.M.SndWnd);
        Assert.Equal(14600u, h.M.CWnd); // RFC 6928: min(10·MSS, max(2·MSS, 14600))
    }

    [Fact]
    public void SynAck_WithoutWindowScale_DisablesScalingBothWays()
    {
        var h = SynSent(new TcpConfig { Timestamps = false, ReceiveBufferSize = 1 << 20, IsnGenerator = new IsnGenerator(new byte[32]) });
        h.Send(SynAck);
        var ack = h.Recv().Single();
        Assert.Equal(0, h.M.SndWindScale);
        Assert.Equal(0, h.M.RcvWindScale);
        Assert.Equal(ushort.MaxValue, ack.Repr.Window);
    }

    [Fact]
    public void SynAck_WithWindowScale_ScalesLaterWindows()
    {
        var h = SynSent(new TcpConfig { Timestamps = false, ReceiveBufferSize = 1 << 20, IsnGenerator = new IsnGenerator(new byte[32]) });
        h.Send(SynAck with { Window = 1000, Options = new TcpOptions { MaxSegmentSize = 1460, WindowScale = 15 } });
        var ack = h.Recv().Single();
        Assert.Equal(14, h.M.SndWindScale); // RFC 7323 §2.3: clamp to 14
        Assert.Equal(1000u, h.M.SndWnd); // the SYN's own window is not scaled
        Assert.Equal(5, h.M.RcvWindScale);
        Assert.Equal((ushort)((1 << 20) >> 5), ack.Repr.Window);
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1, Window = 3 });
        Assert.Equal(3u << 14, h.M.SndWnd);
    }

    [Fact]
    public void UnacceptableAck_IsAnsweredWithReset()
    {
        var h = SynSent();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq, AckNumber = LocalSeq });
        h.Expect(RecvTemplate with { Flags = TcpFlags.Rst, SequenceNumber = LocalSeq, Window = 0 });
        Assert.Equal(TcpState.SynSent, h.M.State);
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, AckNumber = LocalSeq + 5 });
        h.Expect(RecvTemplate with { Flags = TcpFlags.Rst, SequenceNumber = LocalSeq + 5, Window = 0 });
        Assert.Equal(TcpState.SynSent, h.M.State);
    }

    [Fact]
    public void RstWithAcceptableAck_ResetsTheConnection()
    {
        var h = SynSent();
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq, AckNumber = LocalSeq + 1 });
        Assert.Equal(TcpState.Closed, h.M.State);
        Assert.Equal(TcpEvents.Reset | TcpEvents.Closed, h.M.TakeEvents());
        h.ExpectNothing();
    }

    [Fact]
    public void RstWithoutAck_IsIgnored()
    {
        var h = SynSent();
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq });
        Assert.Equal(TcpState.SynSent, h.M.State);
        h.ExpectNothing();
    }

    [Fact]
    public void Syn_SimultaneousOpen_GoesThroughSynReceived()
    {
        var h = SynSent();
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, Options = new TcpOptions { MaxSegmentSize = 1460 } });
        Assert.Equal(TcpState.SynRcvd, h.M.State);
        h.Expect(RecvTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = LocalSeq,
            AckNumber = RemoteSeq + 1,
            Options = new TcpOptions { MaxSegmentSize = 1460 },
        });
        // The peer's SYN-ACK crosses ours: acknowledge it and be established.
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, AckNumber = LocalSeq + 1 });
        Assert.Equal(TcpState.Established, h.M.State);
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 1 });
        Assert.True(h.M.PendingEvents.HasFlag(TcpEvents.Connected));
    }

    [Fact]
    public void Syn_IsRetransmittedWithBackoff_AndInitialWindowDropsToOneSegment()
    {
        var h = SynSent();
        var syn = RecvTemplate with { Flags = TcpFlags.Syn, SequenceNumber = LocalSeq, Options = new TcpOptions { MaxSegmentSize = 1460 } };
        Assert.Equal(h.Now.AddMicroseconds(1_000_000), h.M.PollAt());
        h.Advance(999);
        h.ExpectNothing();
        h.Advance(1);
        h.Expect(syn);
        Assert.Equal(TimeSpan.FromSeconds(2), h.M.Rto);
        h.Advance(1999);
        h.ExpectNothing();
        h.Advance(1);
        h.Expect(syn);
        Assert.Equal(2ul, h.M.Statistics.RetransmittedSegments);
        Assert.Equal(1ul, h.M.Statistics.OutSegments);
        h.Send(SynAck);
        Assert.Equal(1460u, h.M.CWnd); // RFC 6928 §2 / RFC 5681 §3.1: IW is one segment after a lost SYN
    }

    [Fact]
    public void Syn_RetransmissionLimit_IsReportedAsEvent()
    {
        var h = SynSent(Config(c => new TcpConfig { Timestamps = false, WindowScaling = false, ReceiveBufferSize = BufferSize, MaxRetransmissions = 2, IsnGenerator = c.IsnGenerator }));
        h.Advance(1000);
        Assert.Single(h.Recv());
        h.Advance(2000);
        Assert.Single(h.Recv());
        h.Advance(4000);
        h.ExpectNothing();
        Assert.True(h.M.TakeEvents().HasFlag(TcpEvents.RetransmitTimeout));
        Assert.Equal(Instant.MaxValue, h.M.PollAt());
    }

    [Fact]
    public void Close_GoesToClosedWithoutSending()
    {
        var h = SynSent();
        h.M.Close();
        Assert.Equal(TcpState.Closed, h.M.State);
        h.ExpectNothing();
    }
}
