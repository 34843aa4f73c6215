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
    public void WithoutSack_NoBlocksAreSent()
    {
        var h = EstablishedWithSack(peerOffers: false);
        h.Send(Data(100), new byte[10]);
        Assert.Empty(Blocks(h.Recv().Single()));
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
