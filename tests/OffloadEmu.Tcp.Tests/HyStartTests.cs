using OffloadEmu.Tcp;
using OffloadEmu.Tcp.Congestion;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>RFC 9406 HyStart++ in NewReno's and CUBIC's initial slow start: rounds by sequence number, the delay-rise
/// exit into Conservative Slow Start, CSS growth at a quarter, the return to slow start on jitter, congestion avoidance
/// after CSS_ROUNDS; and the machine feeding it one RTT sample per ACK from timestamps.</summary>
public class HyStartTests
{
    private const int Mss = 1000;

    /// <summary>An ACK-clocked sender in slow start: every segment carries the round (the test's own count) of the
    /// segment whose ACK released it, plus one; an ACK reports the RTT that the RTT function gives for its
    /// segment's round. Runs until slow start ends or a limit of ACKs.</summary>
    private sealed class Driver
    {
        public readonly List<(int Ack, int HyStartRound, uint CWndBefore)> CssEntries = [];
        public readonly List<(int Ack, int HyStartRound)> CssResumes = [];
        public int ExitAck = -1;
        public int ExitRound = -1;
        public int Acks;

        public void Run(ICongestionControl cc, Func<int, int> rounds, Func<int, long> rttOfRound, int maxAcks)
        {
            cc.Reset(Mss, 10 * Mss, uint.MaxValue);
            var flight = new Queue<int>();
            var una = new SeqNumber(1);
            var nxt = una;
            for (int i = 0; i < 10; i++)
            {
                flight.Enqueue(1);
                nxt += Mss;
            }
            bool inCss = false;
            while (Acks < maxAcks && flight.Count > 0)
            {
                int round = flight.Dequeue();
                una += Mss;
                Acks++;
                uint before = cc.CWnd;
                cc.OnSlowStartAck(una, nxt, rttOfRound(round));
                bool css = Css(cc);
                if (css && !inCss) CssEntries.Add((Acks, rounds(0), before));
                if (!css && inCss && cc.SsThresh == uint.MaxValue) CssResumes.Add((Acks, rounds(0)));
                inCss = css;
                if (cc.SsThresh != uint.MaxValue)
                {
                    ExitAck = Acks;
                    ExitRound = rounds(0);
                    return;
                }
                cc.OnAck(Mss, Instant.Zero, TimeSpan.Zero);
                while (nxt - una < cc.CWnd)
                {
                    flight.Enqueue(round + 1);
                    nxt += Mss;
                }
            }
        }

        private static bool Css(ICongestionControl cc) => cc switch
        {
            NewReno r => r.InConservativeSlowStart,
            Cubic c => c.InConservativeSlowStart,
            _ => false,
        };
    }

    private static (ICongestionControl Cc, Func<int, int> Rounds) Make(bool cubic)
    {
        if (cubic)
        {
            var c = new Cubic();
            return (c, _ => c.HyStartRounds);
        }
        var r = new NewReno();
        return (r, _ => r.HyStartRounds);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RisingRtt_EntersCss_ThenCongestionAvoidanceAfterFiveRounds(bool cubic)
    {
        var (cc, rounds) = Make(cubic);
        var d = new Driver();
        // 100 ms for the first three rounds of segments, then a queue builds: +20 ms per round.
        d.Run(cc, rounds, round => round <= 3 ? 100_000 : 100_000 + 20_000L * (round - 3), maxAcks: 100_000);

        // HyStart++ round 4 still starts with ACKs of round-3 segments (100 ms), so its minimum has not risen; round 5's
        // minimum is 120 ms ≥ 100 + max(4, min(100/8, 16)) ms = 112.5 ms once 8 samples are in: CSS.
        var entry = Assert.Single(d.CssEntries);
        Assert.Equal(4, entry.HyStartRound); // the fifth round (counted from 0)
        // Slow start before it: one MSS per ACK from IW10.
        Assert.Equal((uint)(10 * Mss + (entry.Ack - 1) * Mss), entry.CWndBefore);
        Assert.Empty(d.CssResumes);
        // CSS_ROUNDS = 5 (the entry round is the first): congestion avoidance at the start of round 10 (9 from 0).
        Assert.Equal(9, d.ExitRound);
        // In CSS every ACK grows the window by MSS / CSS_GROWTH_DIVISOR; the exiting ACK itself no more.
        uint expected = entry.CWndBefore + (uint)((d.ExitAck - entry.Ack) * (Mss / 4));
        Assert.Equal(expected, cc.CWnd);
        Assert.Equal(cc.CWnd, cc.SsThresh);
        // And from there on it is congestion avoidance: one more ACK grows by far less than an MSS.
        uint at = cc.CWnd;
        cc.OnAck(Mss, Instant.FromSeconds(10), TimeSpan.FromMilliseconds(200));
        Assert.True(cc.CWnd - at < Mss / 4);
    }

    [Fact]
    public void FlatRtt_NeverLeavesSlowStart()
    {
        var (cc, rounds) = Make(cubic: false);
        var d = new Driver();
        d.Run(cc, rounds, _ => 100_000, maxAcks: 5000);
        Assert.Empty(d.CssEntries);
        Assert.Equal(-1, d.ExitAck);
        Assert.Equal((uint)(10 * Mss + 5000 * Mss), cc.CWnd);
        Assert.Equal(uint.MaxValue, cc.SsThresh);
    }

    [Fact]
    public void RiseBelowTheThreshold_IsIgnored()
    {
        var (cc, rounds) = Make(cubic: false);
        var d = new Driver();
        // 100 ms then 112 ms: below the 12.5 ms threshold (lastRoundMinRTT / 8).
        d.Run(cc, rounds, round => round <= 3 ? 100_000 : 112_000, maxAcks: 3000);
        Assert.Empty(d.CssEntries);
        Assert.Equal(uint.MaxValue, cc.SsThresh);
    }

    [Fact]
    public void RttFallingBackDuringCss_ResumesSlowStart()
    {
        var (cc, rounds) = Make(cubic: false);
        var d = new Driver();
        // A single round of segments sees +30 ms (jitter), the ones after it are back at 100 ms.
        d.Run(cc, rounds, round => round is 4 or 5 ? 130_000 : 100_000, maxAcks: 3000);
        Assert.NotEmpty(d.CssEntries);
        Assert.NotEmpty(d.CssResumes);
        Assert.True(d.CssResumes[0].Ack > d.CssEntries[0].Ack);
        Assert.Equal(-1, d.ExitAck);
        Assert.Equal(uint.MaxValue, cc.SsThresh);
    }

    [Fact]
    public void Loss_EndsHyStart_ForTheConnection()
    {
        var reno = new NewReno();
        reno.Reset(Mss, 10 * Mss, uint.MaxValue);
        reno.OnEnterRecovery(10 * Mss, Instant.Zero);
        reno.OnExitRecovery(5 * Mss);
        // A later slow start (after a timeout, say) is RFC 5681's: HyStart++ only runs in the initial one (§4.3).
        reno.OnRetransmitTimeout(5 * Mss);
        for (int i = 0; i < 200; i++)
        {
            reno.OnSlowStartAck(new SeqNumber((uint)(1 + i * Mss)), new SeqNumber((uint)(1 + (i + 20) * Mss)), i < 100 ? 100_000 : 200_000);
            Assert.False(reno.InConservativeSlowStart);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Machine_FeedsOneTimestampRttSamplePerAck_OnlyWhenEnabled(bool enabled)
    {
        var recorder = new RecordingCc();
        var config = Config(c => c with { Timestamps = true, HyStart = enabled, CongestionControlFactory = () => recorder });
        var h = SynSent(config);
        h.Send(SendTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = RemoteSeq,
            AckNumber = LocalSeq + 1,
            Window = 60000,
            Options = new TcpOptions { MaxSegmentSize = 1460, Timestamps = new TcpTimestamps(500, 0) },
        });
        h.Recv();
        h.Enqueue(new byte[1448 * 4]);
        var sent = h.Recv();
        Assert.Equal(4, sent.Count);
        uint tsval = sent[0].Repr.Options.Timestamps!.Value.TsVal;
        h.Advance(37);
        h.Send(SendTemplate with
        {
            SequenceNumber = RemoteSeq + 1,
            AckNumber = LocalSeq + 1 + 1448 * 2,
            Window = 60000,
            Options = new TcpOptions { Timestamps = new TcpTimestamps(501, tsval) },
        });
        h.Advance(5);
        h.Send(SendTemplate with
        {
            SequenceNumber = RemoteSeq + 1,
            AckNumber = LocalSeq + 1 + 1448 * 4,
            Window = 60000,
            Options = new TcpOptions { Timestamps = new TcpTimestamps(502, tsval) },
        });
        if (!enabled)
        {
            Assert.Empty(recorder.Samples);
            return;
        }
        Assert.Equal(
            new[] { (LocalSeq + 1 + 1448 * 2, LocalSeq + 1 + 1448 * 4, 37_000L), (LocalSeq + 1 + 1448 * 4, LocalSeq + 1 + 1448 * 4, 42_000L) },
            recorder.Samples);
    }

    private sealed class RecordingCc : ICongestionControl
    {
        private readonly NewReno _inner = new();
        public readonly List<(SeqNumber Ack, SeqNumber SndNxt, long Rtt)> Samples = [];
        public uint CWnd => _inner.CWnd;
        public uint SsThresh => _inner.SsThresh;
        public void Reset(int mss, uint cwnd, uint ssThresh) => _inner.Reset(mss, cwnd, ssThresh);
        public void OnSlowStartAck(SeqNumber ack, SeqNumber sndNxt, long rttMicroseconds) => Samples.Add((ack, sndNxt, rttMicroseconds));
        public void OnAck(int ackedBytes, Instant now, TimeSpan srtt) => _inner.OnAck(ackedBytes, now, srtt);
        public void OnEnterRecovery(uint flightSize, Instant now) => _inner.OnEnterRecovery(flightSize, now);
        public void OnDuplicateAckInRecovery() => _inner.OnDuplicateAckInRecovery();
        public void OnPartialAck(int ackedBytes) => _inner.OnPartialAck(ackedBytes);
        public void OnExitRecovery(uint flightSize) => _inner.OnExitRecovery(flightSize);
        public void OnRetransmitTimeout(uint flightSize) => _inner.OnRetransmitTimeout(flightSize);
        public void OnRestartAfterIdle(uint restartWindow) => _inner.OnRestartAfterIdle(restartWindow);
        public void UndoReduction(uint cwnd, uint ssThresh) => _inner.UndoReduction(cwnd, ssThresh);
    }
}
