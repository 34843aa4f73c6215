using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>RFC 2018 SACK generation (negotiation, block order) and RFC 2883 D-SACK.</summary>
public class SackTests
{
    private static TcpConfig SackConfig() => Config(c => new TcpConfig
    {
        Timestamps = false,
        WindowScaling = false,
        Sack = true,
        ReceiveBufferSize = BufferSize,
        IsnGenerator = c.IsnGenerator,
    });

    private static Harness EstablishedWithSack(bool peerOffers = true)
    {
        var h = SynSent(SackConfig());
        h.Send(SendTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = RemoteSeq,
            AckNumber = LocalSeq + 1,
            Options = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = peerOffers },
        });
        h.Recv();
        return h;
    }

    private static TcpRepr Data(int offset) => SendTemplate with { SequenceNumber = RemoteSeq + 1 + offset, AckNumber = LocalSeq + 1 };

    private static SackBlock Block(int from, int to) => new(RemoteSeq + 1 + from, RemoteSeq + 1 + to);

    private static SackBlock[] Blocks(Seg seg)
        => Enumerable.Range(0, seg.Repr.Options.SackBlockCount).Select(seg.Repr.Options.GetSackBlock).ToArray();

    [Fact]
    public void Syn_OffersSackPermitted_AndItIsEnabledOnlyIfThePeerAgrees()
    {
        var clock = new ManualClock();
        var m = TcpMachine.Connect(SackConfig(), Addresses, LocalPort, RemotePort, clock.Now, LocalSeq, 0);
        var h = new Harness(m, clock);
        Assert.True(h.Recv().Single().Repr.Options.SackPermitted);
        Assert.True(EstablishedWithSack(peerOffers: true).M.SackEnabled);
        Assert.False(EstablishedWithSack(peerOffers: false).M.SackEnabled);
    }

    [Fact]
    public void SynAck_EchoesSackPermitted()
    {
        var h = Listen(SackConfig());
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, Options = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true } });
        Assert.True(h.Recv().Single().Repr.Options.SackPermitted);
        Assert.True(h.M.SackEnabled);
    }

    [Fact]
    public void OutOfOrderData_IsReportedMostRecentBlockFirst()
    {
        var h = EstablishedWithSack();
        h.Send(Data(100), new byte[10]);
        Assert.Equal(new[] { Block(100, 110) }, Blocks(h.Recv().Single()));
        h.Send(Data(200), new byte[10]);
        Assert.Equal(new[] { Block(200, 210), Block(100, 110) }, Blocks(h.Recv().Single()));
        h.Send(Data(110), new byte[10]); // extends the first island: it becomes the most recent
        Assert.Equal(new[] { Block(100, 120), Block(200, 210) }, Blocks(h.Recv().Single()));
        h.Send(Data(0), new byte[100]);  // fills the first hole
        var ack = h.Recv().Single();
        Assert.Equal(RemoteSeq + 121, ack.Ack);
        Assert.Equal(new[] { Block(200, 210) }, Blocks(ack));
    }

    [Fact]
    public void LaterBlocks_RepeatTheMostRecentlyReportedFirst_NotSequenceOrder()
    {
        // RFC 2018 §4: after the first block, the most recently reported blocks (found by tests/conformance: the
        // target listed them in sequence order, so with 4+ islands the newest ones could be left out).
        var h = EstablishedWithSack();
        h.Send(Data(100), new byte[10]);
        h.Recv();
        h.Send(Data(300), new byte[10]);
        h.Recv();
        h.Send(Data(500), new byte[10]);
        Assert.Equal(new[] { Block(500, 510), Block(300, 310), Block(100, 110) }, Blocks(h.Recv().Single()));
        h.Send(Data(700), new byte[10]);
        Assert.Equal(new[] { Block(700, 710), Block(500, 510), Block(300, 310), Block(100, 110) }, Blocks(h.Recv().Single()));
        h.Send(Data(900), new byte[10]); // five islands, four blocks: the oldest report goes
        Assert.Equal(new[] { Block(900, 910), Block(700, 710), Block(500, 510), Block(300, 310) }, Blocks(h.Recv().Single()));
        h.Send(Data(110), new byte[10]); // extends the oldest island: first now, the rest by recency
        Assert.Equal(new[] { Block(100, 120), Block(900, 910), Block(700, 710), Block(500, 510) }, Blocks(h.Recv().Single()));
    }

    [Fact]
    public void DuplicateSegment_IsReportedAsDsack_Once()
    {
        var h = EstablishedWithSack();
        h.Send(Data(0), new byte[10]);
        h.Send(Data(10), new byte[10]);
        h.Recv();
        h.Send(Data(0), new byte[10]); // wholly old
        var ack = h.Recv().Single();
        Assert.Equal(RemoteSeq + 21, ack.Ack);
        Assert.Equal(new[] { Block(0, 10) }, Blocks(ack)); // below the cumulative ACK: a D-SACK
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq + 5 }); // anything provoking an ACK
        Assert.Empty(Blocks(h.Recv().Single()));
    }

    [Fact]
    public void DuplicateOfOutOfOrderData_IsReportedAsDsackBeforeTheIsland()
    {
        var h = EstablishedWithSack();
        h.Send(Data(100), new byte[10]);
        h.Recv();
        h.Send(Data(100), new byte[10]);
        Assert.Equal(new[] { Block(100, 110), Block(100, 110) }, Blocks(h.Recv().Single()));
    }

    [Fact]
    public void DataSegments_CarrySackBlocks_AndGiveUpPayloadForThem()
    {
        var h = EstablishedWithSack();
        h.Send(Data(100), new byte[10]);
        h.Recv();
        h.Enqueue(new byte[3000]);
        var segs = h.Recv();
        Assert.Equal(new[] { Block(100, 110) }, Blocks(segs[0]));
        // RFC 6691: payload + option bytes stay within the peer's MSS (1460): 12 bytes of SACK option → 1448 of data.
        Assert.Equal(1448, segs[0].Payload.Length);
        Assert.True(segs[0].Payload.Length + segs[0].Repr.Options.EmittedLength <= 1460);
        // Once the hole is filled no blocks are due and full segments resume.
        h.Send(Data(0), new byte[100]);
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 111, AckNumber = LocalSeq + 1 + 1448 * 2, Window = 60000 });
        var later = h.Recv();
        Assert.All(later, s => Assert.Equal(0, s.Repr.Options.SackBlockCount));
    }

    [Fact]
    public void WithoutSack_NoBlocksAreSent()
    {
        var h = EstablishedWithSack(peerOffers: false);
        h.Send(Data(100), new byte[10]);
        Assert.Empty(Blocks(h.Recv().Single()));
    }

    private static TcpRepr SackAck(int ackOffset, params (int From, int To)[] blocks)
    {
        Span<SackBlock> sack = stackalloc SackBlock[blocks.Length];
        for (int i = 0; i < blocks.Length; i++) sack[i] = new SackBlock(LocalSeq + 1 + blocks[i].From, LocalSeq + 1 + blocks[i].To);
        return SendTemplate with
        {
            SequenceNumber = RemoteSeq + 1,
            AckNumber = LocalSeq + 1 + ackOffset,
            Window = 60000,
            Options = new TcpOptions().WithSackBlocks(sack),
        };
    }

    [Fact]
    public void SackRecovery_ResendsEveryLostHoleWithoutWaitingForPartialAcks()
    {
        var h = EstablishedWithSack();
        h.Send(SackAck(0));
        h.Enqueue(new byte[1460 * 10]);
        Assert.Equal(10, h.Recv().Count);
        // Segments 0 and 3 lost: the first duplicate ACK already SACKs more than (DupThresh − 1)·SMSS above SND.UNA,
        // so SND.UNA is lost (RFC 6675 IsLost) and recovery starts; segment 3 is lost too (8 segments SACKed above it).
        h.Send(SackAck(0, (1460 * 4, 1460 * 10), (1460, 1460 * 3)));
        var sent = h.Recv();
        Assert.Equal(new[] { LocalSeq + 1, LocalSeq + 1 + 1460 * 3 }, sent.Select(s => s.Seq));
        Assert.All(sent, s => Assert.Equal(1460, s.Payload.Length));
        Assert.True(h.M.InRecovery);
        Assert.Equal(2ul, h.M.Statistics.RetransmittedSegments);
        // The ACK of segment 0 is partial (segment 3 still missing); nothing more to resend, it is already in flight.
        h.Send(SackAck(1460 * 3, (1460 * 4, 1460 * 10)));
        Assert.Empty(h.Recv());
        h.Send(SackAck(1460 * 10));
        Assert.False(h.M.InRecovery);
        Assert.Equal(2ul, h.M.Statistics.RetransmittedSegments);
    }

    [Fact]
    public void SackRecovery_RescueRetransmission_RepairsALostTail()
    {
        var h = EstablishedWithSack();
        h.Send(SackAck(0));
        h.Enqueue(new byte[1460 * 10]);
        Assert.Equal(10, h.Recv().Count);
        // Segments 0 and 9 lost; 9 lies above everything SACKed, so only the rescue rule (RFC 6675 NextSeg 4) finds it.
        h.Send(SackAck(0, (1460, 1460 * 9)));
        var sent = h.Recv();
        Assert.Equal(new[] { LocalSeq + 1, LocalSeq + 1 + 1460 * 9 }, sent.Select(s => s.Seq));
        h.Send(SackAck(0, (1460, 1460 * 9)));
        Assert.Empty(h.Recv()); // once per recovery
    }

    [Fact]
    public void SackRecovery_SendsNewDataWhenPipeAllows()
    {
        var h = EstablishedWithSack();
        h.Send(SackAck(0));
        h.Enqueue(new byte[1460 * 14]);
        Assert.Equal(10, h.Recv().Count); // IW10
        // Only segment 0 lost; 9 SACKed. pipe = 1460 (the retransmission) < ssthresh 7300: new data follows.
        h.Send(SackAck(0, (1460, 1460 * 10)));
        var sent = h.Recv();
        Assert.Equal(LocalSeq + 1, sent[0].Seq);
        Assert.True(sent.Count > 1, "new data should follow the retransmission");
        Assert.Equal(LocalSeq + 1 + 1460 * 10, sent[1].Seq);
    }

    [Fact]
    public void SackRecovery_AHoleBelowTheRescueRetransmission_IsStillRepaired_AndNothingIsResent()
    {
        const int S = 1460;
        var h = EstablishedWithSack();
        h.Send(SackAck(0));
        h.Enqueue(new byte[S * 10]);
        Assert.Equal(10, h.Recv().Count);
        // Segments 0, 8 and 9 lost. Segment 0 is lost by RFC 6675 IsLost; the tail 8..9 lies above everything SACKed,
        // so the rescue retransmission (rule 4) resends the last segment, 9. pipe = 1460 (0 resent, lost) + 2920 (8..9,
        // not lost) + 1460 (9 resent) = 5840.
        h.Send(SackAck(0, (S, S * 8)));
        Assert.Equal(new[] { LocalSeq + 1, LocalSeq + 1 + S * 9 }, h.Recv().Select(s => s.Seq));
        Assert.Equal(5840, h.M.Pipe());
        // The rescued 9 arrives and is SACKed, which opens a hole at 8 below it. With only HighRxt (RFC 6675's single
        // mark, moved past 9 by the rescue) NextSeg would never look at 8 again and the connection would wait for the
        // timer; with per-range marks 8 goes now (rule 3: not lost, nothing new to send).
        h.Send(SackAck(0, (S, S * 8), (S * 9, S * 10)));
        var sent = h.Recv();
        Assert.Equal(new[] { LocalSeq + 1 + S * 8 }, sent.Select(s => s.Seq));
        Assert.Equal(S, sent[0].Payload.Length);
        // pipe: 0 (lost, resent once: 1460) + 8 (not lost: 1460, resent: 1460) = 4380.
        Assert.Equal(4380, h.M.Pipe());
        // More duplicate ACKs: every range was resent once in this episode, nothing goes twice.
        h.Send(SackAck(0, (S, S * 8), (S * 9, S * 10)));
        h.Send(SackAck(0, (S, S * 8), (S * 9, S * 10)));
        Assert.Empty(h.Recv());
        h.Send(SackAck(S * 8, (S * 9, S * 10)));
        Assert.Empty(h.Recv());
        Assert.True(h.M.InRecovery);
        h.Send(SackAck(S * 10));
        Assert.False(h.M.InRecovery);
        Assert.Equal(3ul, h.M.Statistics.RetransmittedSegments);
        Assert.Equal(0ul, h.M.Statistics.RetransmitTimeouts);
    }

    [Fact]
    public void SackRecovery_TwoHoles_SacksArrivingOutOfOrder_EachHoleIsResentExactlyOnce()
    {
        const int S = 1460;
        var h = EstablishedWithSack();
        h.Send(SackAck(0));
        h.Enqueue(new byte[S * 10]);
        Assert.Equal(10, h.Recv().Count);
        h.Send(SackAck(S * 2));
        Assert.Empty(h.Recv());
        // Segments 2 and 5 lost; the peer's duplicate ACKs reach us newest first. The newest already shows both holes
        // lost (RFC 6675 IsLost), so recovery starts on it and resends both.
        h.Send(SackAck(S * 2, (S * 6, S * 10), (S * 3, S * 5)));
        Assert.Equal(new[] { LocalSeq + 1 + S * 2, LocalSeq + 1 + S * 5 }, h.Recv().Select(s => s.Seq));
        Assert.Equal(2 * S, h.M.Pipe()); // both holes lost: only their retransmissions are in flight
        // The older ACKs, each knowing less, add nothing and resend nothing.
        h.Send(SackAck(S * 2, (S * 3, S * 4)));
        h.Send(SackAck(S * 2, (S * 3, S * 5)));
        h.Send(SackAck(S * 2, (S * 6, S * 7), (S * 3, S * 5)));
        Assert.Empty(h.Recv());
        // The retransmitted 2 arrives: a partial ACK up to the hole at 5, which is already in flight.
        h.Send(SackAck(S * 5, (S * 6, S * 10)));
        Assert.Empty(h.Recv());
        Assert.Equal(S, h.M.Pipe());
        h.Send(SackAck(S * 10));
        Assert.False(h.M.InRecovery);
        Assert.Equal(2ul, h.M.Statistics.RetransmittedSegments);
    }

    [Fact]
    public void Scoreboard_RetransmissionMarks_MergeSkipAndCount_InFixedSlots()
    {
        var b = new SackScoreboard(2); // room for 4 marks
        var u = new SeqNumber(1000);
        b.MarkRetransmitted(u, u + 100);
        b.MarkRetransmitted(u + 100, u + 200); // touches: merged
        Assert.Equal(1, b.RetransmittedRangeCount);
        Assert.True(b.FirstUnretransmitted(u, u + 500, out var rs, out var re));
        Assert.Equal((u + 200, u + 500), (rs, re));
        b.MarkRetransmitted(u + 300, u + 400);
        Assert.True(b.FirstUnretransmitted(u + 50, u + 500, out rs, out re));
        Assert.Equal((u + 200, u + 300), (rs, re));
        Assert.Equal(200 + 100 - 50, b.RetransmittedBytes(u + 50, u + 1000));
        Assert.False(b.FirstUnretransmitted(u + 300, u + 400, out _, out _));
        b.MarkRetransmitted(u + 500, u + 510);
        b.MarkRetransmitted(u + 600, u + 610);
        Assert.Equal(4, b.RetransmittedRangeCount);
        // Full: a fifth mark widens its nearest neighbour (610 → 700) instead of taking a slot.
        b.MarkRetransmitted(u + 650, u + 700);
        Assert.Equal(4, b.RetransmittedRangeCount);
        Assert.Equal(100 + 10 + 100, b.RetransmittedBytes(u + 300, u + 1000));
        // The cumulative ACK drops and trims marks.
        b.Advance(u + 350);
        Assert.Equal(3, b.RetransmittedRangeCount);
        Assert.Equal(50, b.RetransmittedBytes(u, u + 400));
        b.ClearRetransmitted();
        Assert.Equal(0, b.RetransmittedRangeCount);
    }

    private static Harness EstablishedWithSack(Func<TcpConfig, TcpConfig> tweak)
    {
        var h = SynSent(tweak(SackConfig()));
        h.Send(SendTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = RemoteSeq,
            AckNumber = LocalSeq + 1,
            Options = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true },
        });
        h.Recv();
        return h;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Dsack_ShowingTheFastRetransmissionWasNeedless_UndoesTheReduction(bool cubic)
    {
        const int S = 1460;
        var h = cubic ? EstablishedWithSack(c => c with { CongestionControlFactory = () => new Congestion.Cubic() }) : EstablishedWithSack();
        h.Send(SackAck(0));
        h.Enqueue(new byte[S * 10]);
        Assert.Equal(10, h.Recv().Count);
        uint cwndBefore = h.M.CWnd;
        Assert.Equal(14600u, cwndBefore); // IW10
        Assert.Equal(uint.MaxValue, h.M.SsThresh);
        // Segment 0 is reordered, not lost: 1..3 arrive first and their SACK makes it look lost (RFC 6675 IsLost).
        h.Send(SackAck(0, (S, S * 4)));
        Assert.Equal(new[] { LocalSeq + 1 }, h.Recv().Select(s => s.Seq));
        Assert.True(h.M.InRecovery);
        Assert.Equal(cubic ? 10220u : 7300u, h.M.SsThresh); // β = 0.7 (RFC 9438) or FlightSize/2 (RFC 5681)
        // The original arrives: everything is acknowledged, recovery ends with the reduced window.
        h.Send(SackAck(S * 10));
        Assert.False(h.M.InRecovery);
        Assert.True(h.M.CWnd < cwndBefore);
        // Then our needless copy arrives and the peer reports it with a D-SACK below its cumulative ACK (RFC 2883).
        h.Send(SackAck(S * 10, (0, S)));
        Assert.Equal(cwndBefore, h.M.CWnd);
        Assert.Equal(uint.MaxValue, h.M.SsThresh);
        Assert.Equal(1ul, h.M.Statistics.SpuriousRecoveries);
        // Once only: a second D-SACK of the same range changes nothing.
        h.Send(SackAck(S * 10, (0, S)));
        Assert.Equal(1ul, h.M.Statistics.SpuriousRecoveries);
    }

    [Fact]
    public void Dsack_ForOnlyOneOfTwoRetransmissions_KeepsTheReduction()
    {
        const int S = 1460;
        var h = EstablishedWithSack();
        h.Send(SackAck(0));
        h.Enqueue(new byte[S * 10]);
        Assert.Equal(10, h.Recv().Count);
        // 0 reordered, 4 really lost: both are resent.
        h.Send(SackAck(0, (S * 5, S * 10), (S, S * 4)));
        Assert.Equal(new[] { LocalSeq + 1, LocalSeq + 1 + S * 4 }, h.Recv().Select(s => s.Seq));
        uint ssthresh = h.M.SsThresh;
        h.Send(SackAck(S * 4, (S * 5, S * 10)));         // the original 0
        h.Send(SackAck(S * 4, (0, S), (S * 5, S * 10))); // D-SACK of our copy of 0
        h.Send(SackAck(S * 4, (0, S), (S * 5, S * 10))); // and again (a network duplicate of it): counted once
        h.Send(SackAck(S * 10));                          // our copy of 4 fills the hole: no D-SACK for it
        Assert.False(h.M.InRecovery);
        Assert.Equal(ssthresh, h.M.SsThresh);
        Assert.True(h.M.CWnd <= ssthresh);
        Assert.Equal(0ul, h.M.Statistics.SpuriousRecoveries);
    }

    [Fact]
    public void Dsack_OutsideTheRecoveryEpisode_IsNotCounted()
    {
        const int S = 1460;
        var h = EstablishedWithSack();
        h.Send(SackAck(0));
        h.Enqueue(new byte[S * 10]);
        Assert.Equal(10, h.Recv().Count);
        h.Send(SackAck(0, (S, S * 4)));
        Assert.Single(h.Recv());
        h.Send(SackAck(S * 10));
        // A duplicate the network made of data before the episode (below its SND.UNA) proves nothing about it.
        h.Send(SackAck(S * 10, (-S, 0)));
        Assert.Equal(0ul, h.M.Statistics.SpuriousRecoveries);
        Assert.Equal(7300u, h.M.SsThresh);
    }

    [Fact]
    public void SackBlocksOutsideTheWindow_AreIgnored()
    {
        var h = EstablishedWithSack();
        h.Send(SackAck(0));
        h.Enqueue(new byte[1460 * 4]);
        h.Recv();
        h.Send(SackAck(0, (50_000, 60_000), (-500, -100)));
        Assert.Empty(h.Recv());
        Assert.False(h.M.InRecovery);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ImpairedTransfer_WithSackOnBothEnds_DeliversEverything(int seed)
    {
        var sim = new Simulation(seed, Impairment.Mixed, 65536, bytesEachWay: 300_000, timestamps: seed == 2, sack: true);
        string? failure = sim.Run(TimeSpan.FromMinutes(30));
        Assert.True(failure is null, $"{failure}: {sim.Describe()}");
        Assert.True(sim.A.SackEnabled && sim.B.SackEnabled);
        Assert.True(sim.ConsumerA.Error is null && sim.ConsumerB.Error is null, sim.Describe());
    }
}
