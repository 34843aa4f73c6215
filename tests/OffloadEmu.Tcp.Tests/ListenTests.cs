using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>RFC 9293 §3.10.7.2: a machine in LISTEN.</summary>
public class ListenTests
{
    [Fact]
    public void Syn_IsAnsweredWithSynAck_AndMovesToSynReceived()
    {
        var h = Listen();
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, Options = new TcpOptions { MaxSegmentSize = 1400 } });
        h.Expect(RecvTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = LocalSeq,
            AckNumber = RemoteSeq + 1,
            Options = new TcpOptions { MaxSegmentSize = 1460 },
        });
        Assert.Equal(TcpState.SynRcvd, h.M.State);
        Assert.Equal(RemotePort, h.M.RemotePort);
        Assert.Equal(1400, h.M.RemoteMss);
        Assert.Equal(1400, h.M.EffectiveMss);
        Assert.True(h.M.IsPassiveOpen);
    }

    [Fact]
    public void Rst_IsIgnored()
    {
        var h = Listen();
        h.Send(SendTemplate with { Flags = TcpFlags.Rst, SequenceNumber = RemoteSeq });
        h.ExpectNothing();
        Assert.Equal(TcpState.Listen, h.M.State);
    }

    [Fact]
    public void Ack_IsAnsweredWithReset()
    {
        var h = Listen();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq, AckNumber = new SeqNumber(12345) });
        h.Expect(RecvTemplate with { Flags = TcpFlags.Rst, SequenceNumber = new SeqNumber(12345), Window = 0 });
        Assert.Equal(TcpState.Listen, h.M.State);
        Assert.Equal(1ul, h.M.Statistics.OutResets);
    }

    [Fact]
    public void SegmentWithoutSynOrAck_IsDropped()
    {
        var h = Listen();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq }, "hello");
        h.ExpectNothing();
        Assert.Equal(TcpState.Listen, h.M.State);
    }

    [Fact]
    public void SynWithoutMss_AssumesDefault536()
    {
        var h = Listen();
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq });
        h.Recv();
        Assert.Equal(536, h.M.RemoteMss);
        Assert.Equal(536, h.M.EffectiveMss);
    }

    [Fact]
    public void SynAck_EchoesOnlyOptionsThePeerOffered()
    {
        var h = Listen(Config(c => new TcpConfig { Timestamps = true, WindowScaling = true, ReceiveBufferSize = 1 << 20, Mss = 1460, IsnGenerator = c.IsnGenerator }));
        h.Clock.Set(Instant.FromMilliseconds(5000));
        h.Send(SendTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = RemoteSeq,
            Options = new TcpOptions { MaxSegmentSize = 1460, WindowScale = 7, Timestamps = new TcpTimestamps(777, 0) },
        });
        var synAck = h.Recv().Single();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal((byte)5, synAck.Repr.Options.WindowScale); // 1 MiB needs shift 5 to fit 16 bits
        Assert.Equal(777u, synAck.Repr.Options.Timestamps!.Value.TsEcr);
        Assert.Equal(h.M.TsValAt(h.Now), synAck.Repr.Options.Timestamps!.Value.TsVal);
        Assert.Equal(ushort.MaxValue, synAck.Repr.Window); // a SYN's window is never scaled
        Assert.Equal(1460 - 12, h.M.EffectiveMss); // RFC 6691: TS option bytes come off every segment

        var plain = Listen(Config(c => new TcpConfig { Timestamps = true, WindowScaling = true, ReceiveBufferSize = 1 << 20, IsnGenerator = c.IsnGenerator }));
        plain.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, Options = new TcpOptions { MaxSegmentSize = 1460 } });
        var bare = plain.Recv().Single();
        Assert.Null(bare.Repr.Options.WindowScale);
        Assert.Null(bare.Repr.Options.Timestamps);
        Assert.Equal(0, plain.M.RcvWindScale);
    }

    [Fact]
    public void SynWithATinyMss_IsHeldToTheMinimum_AndDataStillFlows()
    {
        var h = Listen();
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, Options = new TcpOptions { MaxSegmentSize = 0 } });
        h.Recv();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 });
        Assert.Equal(48, h.M.EffectiveMss);
        h.Enqueue(new byte[100]);
        Assert.Equal(new[] { 48, 48 }, h.Recv().Select(s => s.Payload.Length)); // the 4-byte tail waits for Nagle
    }

    [Fact]
    public void Close_GoesToClosed()
    {
        var h = Listen();
        h.M.Close();
        Assert.Equal(TcpState.Closed, h.M.State);
        h.ExpectNothing();
    }
}
