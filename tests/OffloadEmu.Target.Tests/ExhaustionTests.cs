namespace OffloadEmu.Target.Tests;

/// <summary>
/// Issue 8, resource exhaustion from the wire: an attacker who knows an offloaded connection's four-tuple and sequence
/// space floods it with out-of-order segments full of holes, or floods the host with SYNs through the target. The target
/// keeps no state per attacking segment (its memory does not grow with the flood), sends at most one segment per
/// attacking segment (no amplification), and the connection then delivers the real stream byte-exact. (Capacity + 1
/// offloads: InitiateTests and HostStack.Tests CapacityOne_*.)
/// </summary>
[Collection(MemoryMeasurements.Name)]
public sealed class ExhaustionTests
{
    public readonly record struct TargetLabSegment(TcpFlags Flags, SeqNumber? AckNumber);

    private const int AttackSegments = 5000;

    // The lab keeps every frame the target sent (WireFromTarget): they are counted, then dropped before each measurement.
    private static long RetainedBytes(TargetLab lab, List<TargetLabSegment> sent)
    {
        sent.AddRange(lab.TargetSegments().Select(s => new TargetLabSegment(s.Tcp.Flags, s.Tcp.AckNumber)));
        lab.WireFromTarget.Clear();
        lab.WireFromTarget.TrimExcess();
        lab.Host.Frames.Clear();   // frames passed up, kept by the test host
        lab.Host.Frames.TrimExcess();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    [Fact]
    public void A_flood_of_out_of_order_holes_keeps_the_targets_memory_flat_and_the_stream_byte_exact()
    {
        using var lab = new TargetLab();
        var host = lab.Establish();
        ulong ctx = lab.Offload(host);
        var rcvNxt = lab.Peer.SndNxt;
        var ack = lab.Peer.RcvNxt;
        // The real stream the peer will send; the attacker sends slices of it at random places, never its first byte, so
        // RCV.NXT cannot move and every slice is a hole to hold or to drop.
        var data = Nbls.Pattern(60_000, seed: 81);
        var random = new Random(8);
        var frames = new byte[AttackSegments][];
        for (int i = 0; i < frames.Length; i++)
        {
            int offset = random.Next(1, data.Length - 200);
            int length = random.Next(1, 40);
            var repr = new TcpRepr
            {
                SourcePort = TargetLab.RemotePort, DestinationPort = TargetLab.LocalPort, SequenceNumber = rcvNxt + offset, AckNumber = ack,
                Flags = TcpFlags.Ack, Window = 65535,
                // The connection negotiated timestamps: without them every slice would be dropped unread (RFC 7323
                // §3.2) and the flood would prove nothing about holding holes.
                Options = TargetLab.PeerTimestamps(lab),
            };
            frames[i] = lab.FrameFromPeer(TargetLab.Segment(repr, data.AsSpan(offset, length)));
        }
        var ignored = new List<TargetLabSegment>();
        var answers = new List<TargetLabSegment>();
        for (int i = 0; i < 200; i++)
        {
            lab.Inject(frames[i]);   // warm-up: the target's pools and rings reach their working size
            lab.Step();
        }
        long before = RetainedBytes(lab, ignored);
        for (int i = 200; i < frames.Length; i++)
        {
            lab.Inject(frames[i]);
            if (i % 8 == 0) lab.Step();
        }
        lab.Step();
        long after = RetainedBytes(lab, answers);

        Assert.True(answers.Count <= AttackSegments - 200, $"{answers.Count} segments sent for {AttackSegments - 200} attacking ones (amplification)");
        Assert.All(answers, s => Assert.Equal(rcvNxt, s.AckNumber));   // nothing was taken as in-order data
        Assert.Equal(0, lab.Host.IndicatedData.Length);
        Assert.Equal(1, lab.Target.ConnectionCount);
        Assert.True(after - before < 512 * 1024, $"the target's memory grew by {after - before} bytes under {AttackSegments - 200} hole segments");

        // The peer now sends the real stream: it fills the holes and everything reaches the host once, byte-exact.
        lab.Peer.Enqueue(new MemorySendBuffer(data));
        lab.RunUntil(() =>
        {
            lab.Host.ReturnAccepted();
            return lab.Host.IndicatedData.Length >= data.Length;
        }, TimeSpan.FromSeconds(30));
        Assert.Equal(data, lab.Host.IndicatedData.ToArray());
        _ = ctx;
    }

    [Fact]
    public void A_syn_flood_through_the_target_creates_no_target_state_and_in_window_syns_get_rate_limited_challenge_acks()
    {
        using var lab = new TargetLab();
        var host = lab.Establish();
        lab.Offload(host);
        var rcvNxt = lab.Peer.SndNxt;
        var random = new Random(9);
        var frames = new byte[AttackSegments][];
        for (int i = 0; i < frames.Length; i++)
        {
            // Half from random source ports (not offloaded: up to the host, which owns SYN handling), half on the
            // offloaded four-tuple at in-window sequence numbers (RFC 5961 §4: challenge ACK, rate-limited).
            bool onConnection = i % 2 == 1;
            var repr = new TcpRepr
            {
                SourcePort = onConnection ? TargetLab.RemotePort : (ushort)random.Next(1024, 65535),
                DestinationPort = TargetLab.LocalPort,
                SequenceNumber = onConnection ? rcvNxt + random.Next(1, 30_000) : new SeqNumber((uint)random.Next()),
                Flags = TcpFlags.Syn, Window = 65535,
                Options = TargetLab.PeerTimestamps(lab),   // else dropped unread on the timestamp connection (RFC 7323 §3.2)
            };
            frames[i] = lab.FrameFromPeer(TargetLab.Segment(repr, []));
        }
        var ignored = new List<TargetLabSegment>();
        var challenges = new List<TargetLabSegment>();
        for (int i = 0; i < 100; i++)
        {
            lab.Inject(frames[i]);
            lab.Step();
        }
        long before = RetainedBytes(lab, ignored);
        long upBefore = lab.Target.FramesUp;
        var start = lab.Now;
        for (int i = 100; i < frames.Length; i++)
        {
            lab.Inject(frames[i]);
            if (i % 8 == 0) lab.Step();
        }
        lab.Step();
        var elapsed = lab.Now - start;
        long after = RetainedBytes(lab, challenges);

        Assert.Equal(1, lab.Target.ConnectionCount);
        Assert.Equal((AttackSegments - 100) / 2, lab.Target.FramesUp - upBefore);   // every foreign SYN went up, none was kept
        // One challenge ACK per ChallengeAckInterval (500 ms) at most, whatever the flood's size.
        long allowed = 2 + (long)elapsed.TotalMilliseconds / 500;
        Assert.True(challenges.Count <= allowed, $"{challenges.Count} challenge ACKs for {AttackSegments / 2} in-window SYNs in {elapsed}");
        Assert.True(ignored.Count + challenges.Count >= 1, "no challenge ACK at all (the first in-window SYNs came in the warm-up)");
        Assert.All(challenges, s => Assert.Equal(TcpFlags.Ack, s.Flags & (TcpFlags.Ack | TcpFlags.Rst | TcpFlags.Syn)));
        Assert.False(lab.Host.HasEvent(TcpOffloadEventType.Abort));
        Assert.True(after - before < 512 * 1024, $"the target's memory grew by {after - before} bytes under a SYN flood");

        // The connection still works.
        var data = Nbls.Pattern(5000, seed: 91);
        lab.Peer.Enqueue(new MemorySendBuffer(data));
        lab.RunUntil(() =>
        {
            lab.Host.ReturnAccepted();
            return lab.Host.IndicatedData.Length >= data.Length;
        }, TimeSpan.FromSeconds(10));
        Assert.Equal(data, lab.Host.IndicatedData.ToArray());
    }
}

/// <summary>Tests that read the process's managed heap run alone, not beside tests that allocate.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurements
{
    public const string Name = "Memory measurements";
}
