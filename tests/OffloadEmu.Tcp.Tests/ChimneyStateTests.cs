using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using ChimneyTcpState = OffloadEmu.Chimney.State.TcpState;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>Chimney spec §2/§6.8: a connection built from TCP const + cached + delegated state, exported at any moment;
/// import then export round-trips bit for bit; timer deltas (-1 off, 0 expire now); timestamps stay monotone.</summary>
public class ChimneyStateTests
{
    private static TcpConstState Const(TcpConstFlags flags = TcpConstFlags.Timestamp | TcpConstFlags.WindowScaling)
        => new()
        {
            Flags = flags,
            LocalPort = LocalPort,
            RemotePort = RemotePort,
            SndWindScale = 7,
            RcvWindScale = 2,
            RemoteMss = 1460,
            HashValue = 0xDEADBEEF,
        };

    private static TcpCachedState Cached(uint maxRt = 0)
        => new()
        {
            Flags = TcpCachedFlags.NaglingEnabled | TcpCachedFlags.KeepAliveEnabled,
            InitialRcvWnd = 65536,
            RcvIndicationSize = 1000,
            KaProbeCount = 10,
            KaTimeout = 7_200_000,
            KaInterval = 1000,
            MaxRT = maxRt,
            FlowLabel = 0x12345,
            TtlOrHopLimit = 64,
            TosOrTrafficClass = 0x10,
            UserPriority = 3,
        };

    private static TcpDelegatedState Delegated(ChimneyTcpState state, int ticksPerSecond, Random? rng = null)
    {
        rng ??= new Random(1);
        var una = new SeqNumber((uint)rng.NextInt64(0, uint.MaxValue));
        int inFlight = rng.Next(0, 3000);
        bool fin = state is ChimneyTcpState.FinWait1 or ChimneyTcpState.Closing or ChimneyTcpState.LastAck;
        return new TcpDelegatedState
        {
            State = state,
            Flags = (ushort)rng.Next(0, 4),
            RcvNxt = new SeqNumber((uint)rng.NextInt64(0, uint.MaxValue)),
            RcvWnd = (uint)rng.Next(0, 65536 / 4) * 4,
            SndUna = una,
            SndNxt = una + inFlight,
            SndMax = una + inFlight + (fin ? 1 : 0),
            SndWnd = (uint)rng.Next(1, 1 << 20),
            MaxSndWnd = 1 << 20,
            SendWL1 = new SeqNumber((uint)rng.NextInt64(0, uint.MaxValue)),
            CWnd = (uint)rng.Next(1460, 1 << 20),
            SsThresh = (uint)rng.Next(2920, int.MaxValue),
            SRtt = (ushort)rng.Next(0, 60000),
            RttVar = (ushort)rng.Next(0, 60000),
            TsRecent = (uint)rng.NextInt64(0, uint.MaxValue),
            TsRecentAge = (uint)rng.Next(0, 100_000),
            TsTime = (uint)rng.NextInt64(0, uint.MaxValue),
            TotalRT = (uint)rng.Next(0, 2) * (uint)rng.Next(1, 5000),
            DupAckCount = (byte)rng.Next(0, 3),
            SndWndProbeCount = (byte)rng.Next(0, 4),
            KeepAlive = new TcpKeepAliveState((byte)rng.Next(0, 5), rng.Next(-1, ticksPerSecond * 100)),
            // A synchronized connection with data in flight has its retransmission timer running (RFC 6298 §5.1): -1
            // there is an inconsistent state the importer repairs (Import_starts_a_stopped_retransmission_timer_*).
            Retransmit = new TcpRetransmitState((byte)rng.Next(0, 4),
                rng.Next(state is ChimneyTcpState.FinWait2 || (inFlight == 0 && !fin) ? -1 : 0, ticksPerSecond * 10)),
            SendBacklogSize = TcpDelegatedState.SendBacklogUnsupported,
            ReceiveBacklogSize = 0,
            DWnd = (uint)rng.Next(),
        };
    }

    private static TcpMachine Import(TcpDelegatedState d, int ticksPerSecond, Instant now, TcpCachedState? cached = null)
    {
        int outstanding = Math.Max(0, d.SndNxt - d.SndUna);
        var data = new MemorySendBuffer(new byte[outstanding + 100]);
        return TcpMachine.FromOffloadState(Config() with { TicksPerSecond = ticksPerSecond, DelayedAckTicks = ticksPerSecond / 5 }, Addresses, Const(), cached ?? Cached(), d,
            new ITcpSendBuffer[] { data }, 0, default, now);
    }

    [Theory]
    [InlineData(ChimneyTcpState.Established, 1000)]
    [InlineData(ChimneyTcpState.FinWait1, 1000)]
    [InlineData(ChimneyTcpState.FinWait2, 100)]
    [InlineData(ChimneyTcpState.CloseWait, 10)]
    [InlineData(ChimneyTcpState.Closing, 100)]
    [InlineData(ChimneyTcpState.LastAck, 10)]
    public void ImportThenExport_RoundTripsBitForBit(ChimneyTcpState state, int ticksPerSecond)
    {
        for (int seed = 0; seed < 200; seed++)
        {
            var now = Instant.FromSeconds(5000);
            var d = Delegated(state, ticksPerSecond, new Random(seed));
            if (state is ChimneyTcpState.FinWait1 or ChimneyTcpState.Closing or ChimneyTcpState.LastAck)
            {
                // The FIN follows the send data: give exactly the outstanding bytes.
                var m2 = TcpMachine.FromOffloadState(Config() with { TicksPerSecond = ticksPerSecond, DelayedAckTicks = ticksPerSecond / 5 }, Addresses, Const(), Cached(), d,
                    new ITcpSendBuffer[] { new MemorySendBuffer(new byte[d.SndNxt - d.SndUna]) }, 0, default, now);
                Assert.Equal(d, m2.ExportDelegatedState(now));
                continue;
            }
            var m = Import(d, ticksPerSecond, now);
            Assert.Equal(Const(), m.ExportConstState());
            Assert.Equal(Cached(), m.ExportCachedState());
            var exported = m.ExportDelegatedState(now);
            Assert.True(d == exported, $"seed {seed}:\n  in  {d}\n  out {exported}");
        }
    }

    [Fact]
    public void Import_MapsTheStateOntoTheMachine()
    {
        var now = Instant.FromSeconds(100);
        var d = Delegated(ChimneyTcpState.Established, 1000);
        d.SRtt = 800;   // 100 ms ×8
        d.RttVar = 200; // 50 ms ×4
        d.Retransmit = new TcpRetransmitState(0, 250);
        var m = Import(d, 1000, now);
        Assert.Equal(TcpState.Established, m.State);
        Assert.Equal(TimeSpan.FromMilliseconds(100), m.SRtt);
        Assert.Equal(TimeSpan.FromMilliseconds(50), m.RttVar);
        Assert.Equal(d.CWnd, m.CWnd);
        Assert.Equal(d.SsThresh, m.SsThresh);
        Assert.Equal(7, m.SndWindScale);
        Assert.True(m.TimestampsEnabled);
        Assert.Equal(1460 - 12, m.EffectiveMss);
        Assert.Equal(d.TsTime, m.TsValAt(now));
    }

    [Fact]
    public void TimerDeltaZero_ExpiresAtOnce_MinusOneIsOff()
    {
        var now = Instant.FromSeconds(100);
        var d = Delegated(ChimneyTcpState.Established, 1000);
        d.Retransmit = new TcpRetransmitState(0, 0);
        d.KeepAlive = TcpKeepAliveState.Off;
        var m = Import(d, 1000, now, Cached() with { Flags = TcpCachedFlags.NaglingEnabled });
        var collector = new SegmentCollector();
        m.Dispatch(now, collector);
        Assert.Single(collector.Segments); // the retransmission of SndUna
        Assert.Equal(1ul, m.Statistics.RetransmittedSegments);

        d.Retransmit = TcpRetransmitState.Off;
        d.SndNxt = d.SndUna;
        d.SndMax = d.SndUna;
        var idle = TcpMachine.FromOffloadState(Config(), Addresses, Const(), Cached() with { Flags = TcpCachedFlags.NaglingEnabled }, d,
            ReadOnlySpan<ITcpSendBuffer>.Empty, 0, default, now);
        Assert.Equal(Instant.MaxValue, idle.PollAt());
    }

    [Fact]
    public void Timestamps_StayMonotoneAcrossExportAndImport()
    {
        var pair = ConnectedPair.Create(timestamps: true);
        pair.Clock.AdvanceMs(12_345);
        var before = pair.A.TsValAt(pair.Clock.Now);
        var exported = pair.A.ExportDelegatedState(pair.Clock.Now);
        Assert.Equal(before, exported.TsTime);
        // Re-offload on a "NIC" whose clock is far behind the host's: TSval continues from TsTime.
        var nicNow = Instant.FromSeconds(3);
        var moved = TcpMachine.FromOffloadState(pair.ConfigA, pair.A.Addresses, pair.A.ExportConstState(), pair.A.ExportCachedState(),
            exported, ReadOnlySpan<ITcpSendBuffer>.Empty, 0, default, nicNow);
        Assert.Equal(before, moved.TsValAt(nicNow));
        Assert.Equal(before + 10, moved.TsValAt(nicNow.AddMicroseconds(10_000)));
    }

    [Fact]
    public void Import_starts_a_stopped_retransmission_timer_when_data_is_in_flight()
    {
        // RFC 6298 §5.1: with data outstanding the timer runs. A state that says "off" (-1) would leave the connection
        // waiting forever for an ACK that may never come; the importer starts it with the imported RTO.
        var now = Instant.FromSeconds(100);
        var d = Delegated(ChimneyTcpState.Established, 1000) with { SRtt = 8 * 100, RttVar = 4 * 10 };
        d.SndNxt = d.SndUna + 500;
        d.SndMax = d.SndNxt;
        d.Retransmit = new TcpRetransmitState(0, TcpDelegatedState.TimerOff);
        var m = Import(d, 1000, now);
        Assert.NotEqual(Instant.MaxValue, m.PollAt());
        Assert.True(m.PollAt() <= now.AddMicroseconds((long)m.Rto.TotalMicroseconds), $"timer at {m.PollAt()}, RTO {m.Rto}");
        Assert.True(m.ExportDelegatedState(now).Retransmit.TimeoutDelta > 0);
    }

    [Fact]
    public void ExportOfAHandshakeConnection_DescribesIt()
    {
        var pair = ConnectedPair.Create(timestamps: true);
        var c = pair.A.ExportConstState();
        Assert.Equal(TcpConstFlags.Timestamp | TcpConstFlags.WindowScaling, c.Flags);
        Assert.Equal(pair.A.RemotePort, c.RemotePort);
        var d = pair.A.ExportDelegatedState(pair.Clock.Now);
        Assert.Equal(ChimneyTcpState.Established, d.State);
        Assert.Equal(pair.A.SndUna, d.SndUna);
        Assert.Equal(pair.B.SndUna, d.RcvNxt);
        Assert.Equal(TcpDelegatedState.TimerOff, d.Retransmit.TimeoutDelta);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void ExportAtAnyMoment_ThenImport_ContinuesTheTransfer(int seed)
    {
        var sim = new Simulation(seed, Impairment.Mixed, 65536, bytesEachWay: 200_000, timestamps: seed % 2 == 0) { MigrateEvery = 40 };
        string? failure = sim.Run(TimeSpan.FromMinutes(30));
        Assert.True(failure is null, $"{failure}: {sim.Describe()}");
        Assert.True(sim.Migrations > 3, sim.Describe());
        Assert.True(sim.ConsumerA.Error is null && sim.ConsumerB.Error is null, sim.Describe());
    }

    [Fact]
    public void ImportedConnection_CanEnterFastRetransmitAtOnce()
    {
        var now = Instant.FromSeconds(100);
        var d = Delegated(ChimneyTcpState.Established, 1000);
        d.SndNxt = d.SndUna + 1460 * 6;
        d.SndMax = d.SndNxt;
        d.SndWnd = 60000;
        d.CWnd = 1460 * 10;
        d.DupAckCount = 0;
        d.Retransmit = new TcpRetransmitState(0, 1000);
        var m = TcpMachine.FromOffloadState(Config(), Addresses,
            Const(TcpConstFlags.None) with { SndWindScale = 0, RcvWindScale = 0 }, Cached(), d,
            new ITcpSendBuffer[] { new MemorySendBuffer(new byte[1460 * 6]) }, 0, default, now);
        var dup = SendTemplate with { SequenceNumber = d.RcvNxt, AckNumber = d.SndUna, Window = 60000 };
        for (int i = 0; i < 3; i++)
        {
            var bytes = new byte[dup.SegmentBufferLength];
            dup.Emit(bytes, RemoteIp, LocalIp, default);
            m.ProcessSegment(bytes, now);
        }
        Assert.True(m.InRecovery);
    }

    [Fact]
    public void FlushDelayedAck_SendsTheOwedAckBeforeExport()
    {
        var h = Established();
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 }, "abc");
        h.ExpectNothing();                       // delayed
        Assert.True(h.M.FlushDelayedAck());
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 4, Window = BufferSize - 3 });
        Assert.False(h.M.FlushDelayedAck());
        Assert.Equal(Instant.MaxValue, h.M.PollAt());
    }

    [Fact]
    public void NonOffloadableStates_AreRefused()
    {
        var d = Delegated(ChimneyTcpState.SynRcvd, 1000);
        Assert.Throws<ArgumentException>(() => Import(d, 1000, Instant.FromSeconds(1)));
        d.State = ChimneyTcpState.TimeWait;
        Assert.Throws<ArgumentException>(() => Import(d, 1000, Instant.FromSeconds(1)));
    }

    [Fact]
    public void TimeWait_IsContinuedAfterAnUpload_ForTheRemainingWait_ThenCloses()
    {
        var now = Instant.FromSeconds(100);
        var d = Delegated(ChimneyTcpState.TimeWait, 1000);
        d.SndNxt = d.SndUna;
        d.SndMax = d.SndUna;
        d.Retransmit = new TcpRetransmitState(0, 1500);   // 1.5 s of the 2MSL wait left
        var m = TcpMachine.FromUploadedState(Config(), Addresses, Const(), Cached(), d, [], 0, default, now);
        Assert.Equal(TcpState.TimeWait, m.State);
        Assert.Equal(now + TimeSpan.FromMilliseconds(1500), m.PollAt());
        m.Dispatch(now + TimeSpan.FromMilliseconds(1499), new SegmentCollector());
        Assert.Equal(TcpState.TimeWait, m.State);
        m.Dispatch(now + TimeSpan.FromMilliseconds(1500), new SegmentCollector());
        Assert.Equal(TcpState.Closed, m.State);

        // No remaining time given (-1): a whole 2MSL.
        d.Retransmit = new TcpRetransmitState(0, -1);
        var full = TcpMachine.FromUploadedState(Config(), Addresses, Const(), Cached(), d, [], 0, default, now);
        Assert.Equal(now + 2 * Config().Msl, full.PollAt());
    }

    [Fact]
    public void OffloadParameters_MapOntoTheConfiguration()
    {
        var config = TcpConfig.Default.WithOffloadParameters(OffloadParameters.ForTicksPerSecond(100) with { TcpAckFrequency = 1, TcpMaximumRetransmissions = 7 });
        Assert.Equal(100, config.TicksPerSecond);
        Assert.Equal(1, config.AckFrequency);
        Assert.Equal(20, config.DelayedAckTicks);
        Assert.Equal(7, config.MaxRetransmissions);
    }
}
