namespace OffloadEmu.Target.Tests;

/// <summary>Chimney spec §10 rows that had only part of their acceptance text under test (docs/conformance.md): 7 (a
/// failed block's outstanding-send NBLs), 19 (exported SRtt and RttVar in chimney units), 23 (KEEP_ALIVE_RESTART),
/// 35 (UPDATE_RCV_WND), 37 (forward after a RST), 56 (capabilities re-read at RESUME). Each through the contract
/// checker (<see cref="TargetLab"/>) with a manual clock.</summary>
public sealed class ChecklistRowTests
{
    private static (TargetLab Lab, OffloadBlock Root, ulong Context) Offloaded(TargetLab lab, TcpMachine? host = null,
        Func<TcpCachedState, TcpCachedState>? cached = null, Action<TcpDelegatedState>? delegated = null)
    {
        host ??= lab.Establish();
        var root = lab.BuildTree(host, out var tcp, handleBase: 0x100 + (ulong)lab.Host.Initiated.Count * 0x10);
        if (cached is not null) tcp.TcpCached = cached(tcp.TcpCached!.Value);
        delegated?.Invoke(tcp.TcpDelegated!);
        Assert.Equal(NdisStatus.Pending, lab.Api.InitiateOffload(root));
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        return (lab, root, tcp.MiniportOffloadContext!.Context);
    }

    private static OffloadBlock TcpOf(OffloadBlock root)
        => OffloadTree.Traverse(root).Select(v => v.Block).Single(b => b.Type == OffloadBlockType.TcpOffloadState);

    /// <summary>An update tree naming only the connection (a TCP linker-style block with its context and new cached state).</summary>
    private static OffloadBlock TcpUpdate(OffloadBlock root, TcpCachedState cached)
    {
        var tcp = TcpOf(root);
        return new OffloadBlock(OffloadBlockType.TcpOffloadState)
        {
            MiniportOffloadContext = tcp.MiniportOffloadContext, NdisOffloadHandle = tcp.NdisOffloadHandle, TcpCached = cached,
        };
    }

    private static void Update(TargetLab lab, OffloadBlock update)
    {
        Assert.Equal(NdisStatus.Pending, lab.Api.UpdateOffload(update));
        lab.RunUntil(() => lab.Host.Updated.Contains(update), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, update.Status);
    }

    private static TcpDelegatedState Query(TargetLab lab, OffloadBlock root)
    {
        Assert.Equal(NdisStatus.Pending, lab.Api.QueryOffloadState(root));
        lab.RunUntil(() => lab.Host.Queried.Contains(root), TimeSpan.FromSeconds(1));
        lab.Host.Queried.Remove(root);
        return TcpOf(root).TcpDelegated!;
    }

    // ---- row 7: a failed block's outstanding-send NBLs are neither modified nor completed ---------------------------------

    public enum FailureCause { Capacity, ForbiddenState, BufferedDataTooLarge, ParentPathFails }

    [Theory]
    [InlineData(FailureCause.Capacity, NdisStatus.OffloadTcpEntries)]
    [InlineData(FailureCause.ForbiddenState, NdisStatus.Failure)]
    [InlineData(FailureCause.BufferedDataTooLarge, NdisStatus.OffloadTcpRcvWindow)]
    [InlineData(FailureCause.ParentPathFails, NdisStatus.Failure)]
    public void Row7_a_failed_tcp_blocks_outstanding_send_nbls_are_neither_modified_nor_completed(FailureCause cause, NdisStatus expected)
    {
        var options = new OffloadTargetOptions
        {
            Capabilities = new TcpConnectionOffloadCapabilities { TcpConnectionOffloadCapacity = 1, SupportIPv4 = true, SupportIPv6 = true, SupportSack = true },
            MaxReceiveWindow = 64 * 1024,
        };
        using var lab = new TargetLab(options);
        if (cause == FailureCause.Capacity) Offloaded(lab); // the one connection the target has room for
        var host = lab.Establish();
        // The host sent the start of its data before offloading: [SndUna, SndNxt) in flight, the rest unsent (spec §5).
        var first = Nbls.Pattern(3000, seed: 11);
        var second = Nbls.Pattern(5000, seed: 12);
        host.Enqueue(new MemorySendBuffer(first));
        host.Enqueue(new MemorySendBuffer(second));
        host.Dispatch(lab.Now, new DropWriter());
        Assert.True(host.SndNxt > host.SndUna);
        var root = lab.BuildTree(host, out var tcp, pathMtu: cause == FailureCause.ParentPathFails ? 9000u : 1500u, handleBase: 0x700);
        var a = Nbls.Send(first, id: 1);
        var b = Nbls.Send(second, id: 2);
        a.Next = b;
        // Values the target would overwrite if it touched them: a status, a byte count, the NB's data window.
        foreach (var nbl in new[] { a, b })
        {
            nbl.Status = NdisStatus.Pending;
            nbl.TcpOffloadBytesTransferred = 77;
            nbl.ProtocolReserved = "host";
        }
        tcp.NetBufferListChain = a;
        tcp.TcpDelegated!.SendDataHead = a;
        tcp.TcpDelegated.SendDataTail = b;
        if (cause == FailureCause.ForbiddenState) tcp.TcpDelegated.State = TcpState.TimeWait;
        if (cause == FailureCause.BufferedDataTooLarge) tcp.TcpDelegated.BufferedData = Nbls.Send(new byte[64 * 1024 + 1]);

        Assert.Equal(NdisStatus.Pending, lab.Api.InitiateOffload(root));
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(expected, tcp.Status);
        if (cause == FailureCause.ParentPathFails) Assert.Equal(NdisStatus.OffloadPathMtu, root.DependentBlockList!.Status);
        Assert.False(tcp.MiniportOffloadContext!.HasContext);
        int wireBefore = lab.WireFromTarget.Count;
        lab.RunFor(TimeSpan.FromSeconds(5)); // long enough for any retransmission of the handed-over data

        Assert.DoesNotContain(a, lab.Host.SendsCompleted);
        Assert.DoesNotContain(b, lab.Host.SendsCompleted);
        Assert.Same(a, tcp.NetBufferListChain);
        Assert.Same(b, a.Next);
        Assert.Null(b.Next);
        Assert.Same(a, tcp.TcpDelegated.SendDataHead);
        Assert.Same(b, tcp.TcpDelegated.SendDataTail);
        foreach (var (nbl, data) in new[] { (a, first), (b, second) })
        {
            Assert.Equal(NdisStatus.Pending, nbl.Status);
            Assert.Equal(77, nbl.TcpOffloadBytesTransferred);
            Assert.Equal("host", nbl.ProtocolReserved);
            Assert.Null(nbl.MiniportReserved);
            Assert.Equal(1, nbl.BufferCount);
            Assert.Equal(0, nbl[0].DataOffset);
            Assert.Equal(data.Length, nbl[0].DataLength);
            var bytes = new byte[data.Length];
            nbl.CopyTo(0, bytes);
            Assert.Equal(data, bytes);
        }
        // Nothing of the failed connection went on the wire (its data is the host's to send).
        Assert.DoesNotContain(lab.TargetSegments().Skip(wireBefore), s => s.PayloadLength > 0);
        Assert.Equal(cause == FailureCause.Capacity ? 1 : 0, lab.Target.ConnectionCount);
    }

    private sealed class DropWriter : ITcpSegmentWriter
    {
        private readonly byte[] _buffer = new byte[70_000];
        public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, length);
        public void Commit(int length) { }
    }

    // ---- row 37: a forward after a RST completes REQUEST_ABORTED --------------------------------------------------------

    [Fact]
    public void Row37_a_forward_after_the_peers_rst_completes_request_aborted_and_is_not_processed()
    {
        using var lab = new TargetLab();
        var (_, _, ctx) = Offloaded(lab);
        lab.Peer.Abort();
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Abort), TimeSpan.FromSeconds(1));
        int wireBefore = lab.WireFromTarget.Count;
        // A segment the host received but did not ACK (e.g. reassembled from fragments), forwarded after the RST.
        var segment = TargetLab.Segment(new TcpRepr
        {
            SourcePort = TargetLab.RemotePort, DestinationPort = TargetLab.LocalPort, SequenceNumber = lab.Peer.SndNxt,
            AckNumber = lab.Peer.RcvNxt, Flags = TcpFlags.Ack | TcpFlags.Psh, Window = 1000, Options = TargetLab.PeerTimestamps(lab),
        }, Nbls.Pattern(100));
        var forward = new NetBufferList { RequestId = 5 };
        forward.AddBuffer().AddSegment(segment);
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadForward(ctx, forward));
        lab.RunUntil(() => lab.Host.ForwardsCompleted.Contains(forward), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.RequestAborted, forward.Status);
        lab.RunFor(TimeSpan.FromSeconds(1));
        Assert.Equal(0, lab.Host.IndicatedData.Length); // not delivered
        Assert.Empty(lab.WireFromTarget.Skip(wireBefore)); // not ACKed: an aborted connection sends nothing
        Assert.Single(lab.Host.ForwardsCompleted);
    }

    // ---- row 23: KEEP_ALIVE_RESTART restarts the keepalive timer and its probe count ----------------------------------

    private static TcpCachedState Keepalive(TcpCachedState c) => c with
    {
        Flags = (c.Flags | TcpCachedFlags.KeepAliveEnabled) & ~(TcpCachedFlags.KeepAliveRestart | TcpCachedFlags.MaxRtRestart | TcpCachedFlags.UpdateRcvWnd),
        KaTimeout = 2000, KaInterval = 1000, KaProbeCount = 3,
    };

    private static bool Retrieved(TargetLab lab, TcpUploadReason reason)
        => lab.Host.Events.Exists(e => e.Type == TcpOffloadEventType.Retrieve && e.Info == (uint)reason);

    private static void AssertNear(TimeSpan expected, TimeSpan actual, string what)
        => Assert.True(Math.Abs((actual - expected).TotalMilliseconds) <= 2, $"{what}: expected {expected.TotalMilliseconds} ms, got {actual.TotalMilliseconds} ms");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Row23_keep_alive_restart_restarts_the_timer_and_the_probe_count(bool restart)
    {
        using var lab = new TargetLab(); // 1000 ticks/s: KaTimeout 2 s, KaInterval 1 s, 3 probes
        var (_, root, _) = Offloaded(lab, cached: Keepalive, delegated: d => d.KeepAlive = new TcpKeepAliveState(0, 2000));
        var start = lab.Now;
        var probes = new List<TimeSpan>();
        lab.DropToPeer = _ => { probes.Add(lab.Now - start); return true; }; // a silent peer
        var cached = Keepalive(TcpOf(root).TcpCached!.Value);
        var update = cached with { Flags = cached.Flags | (restart ? TcpCachedFlags.KeepAliveRestart : TcpCachedFlags.None) };
        // 1.5 s into the idle period: an update with the same keepalive values, with or without RESTART.
        lab.RunFor(TimeSpan.FromMilliseconds(1500));
        Assert.Empty(probes);
        Update(lab, TcpUpdate(root, update));
        var firstUpdate = lab.Now - start;
        TimeSpan[] expected;
        if (!restart)
        {
            // The timer set at offload runs on: probes at 2, 3, 4 s, the upload request at 5 s.
            expected = [TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(5)];
        }
        else
        {
            // RESTART at 1.5 s: KaTimeout from there (3.5 s), then one KaInterval apart (4.5 s).
            lab.RunFor(TimeSpan.FromMilliseconds(3000));
            Assert.Equal(2, probes.Count);
            AssertNear(firstUpdate + TimeSpan.FromSeconds(2), probes[0], "first probe after the restart");
            AssertNear(firstUpdate + TimeSpan.FromSeconds(3), probes[1], "second probe");
            // A second RESTART after two unanswered probes: the probe count starts again, so three more probes come
            // (without the reset the next probe would be the last and the upload request one KaInterval after it).
            Update(lab, TcpUpdate(root, update));
            var second = lab.Now - start;
            expected = [firstUpdate + TimeSpan.FromSeconds(2), firstUpdate + TimeSpan.FromSeconds(3),
                second + TimeSpan.FromSeconds(2), second + TimeSpan.FromSeconds(3), second + TimeSpan.FromSeconds(4), second + TimeSpan.FromSeconds(5)];
        }
        lab.RunUntil(() => Retrieved(lab, TcpUploadReason.TimeoutExpiration), TimeSpan.FromSeconds(30));
        var retrievedAt = lab.Now - start;
        Assert.Equal(expected.Length - 1, probes.Count);
        for (int i = 0; i < probes.Count; i++) AssertNear(expected[i], probes[i], $"probe {i + 1}");
        AssertNear(expected[^1], retrievedAt, "Retrieve(TimeoutExpiration)");
    }

    // ---- row 19: the exported SRtt (×8) and RttVar (×4), in ticks, follow known delays ---------------------------------

    [Theory]
    [InlineData(1000u)]
    [InlineData(100u)]
    public void Row19_exported_srtt_and_rttvar_follow_known_delays_in_chimney_units(uint ticksPerSecond)
    {
        // One-way delays (ms) on the target's segments to the peer; the peer ACKs each at once (AckFrequency 1) over a
        // link without delay, so each ACK is one RTT sample of exactly that delay (timestamps, 1 ms TSval clock).
        int[] delays = [100, 100, 300, 60, 200, 120, 400, 80, 160, 240];
        using var lab = new TargetLab(new OffloadTargetOptions { Parameters = OffloadParameters.ForTicksPerSecond(ticksPerSecond) },
            peerConfig: TcpConfig.Default with { ReceiveBufferSize = 256 * 1024, Sack = true, AckFrequency = 1 });
        // No RTT sample at offload (SRtt = RttVar = 0): the first one below starts the estimator (RFC 6298 §2.2).
        var (_, root, ctx) = Offloaded(lab, delegated: d => { d.SRtt = 0; d.RttVar = 0; });
        var inFlight = new List<(Instant Due, byte[] Frame)>();
        int delayMs = 0;
        lab.DropToPeer = frame => { inFlight.Add((lab.Now.AddMicroseconds(delayMs * 1000L), frame)); return true; };
        double srtt = 0, rttvar = 0;
        for (int i = 0; i < delays.Length; i++)
        {
            delayMs = delays[i];
            var nbl = Nbls.Send(Nbls.Pattern(500, seed: i), id: (ulong)i + 1);
            Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadSend(ctx, nbl));
            for (int ms = 0; !lab.Host.SendsCompleted.Contains(nbl); ms++)
            {
                Assert.True(ms < 2000, $"send {i} not completed");
                for (int f = 0; f < inFlight.Count; f++)
                {
                    if (inFlight[f].Due > lab.Now) continue;
                    Assert.True(TargetLab.TryTcpPayload(inFlight[f].Frame, out var tcp));
                    lab.Peer.ProcessSegment(tcp, lab.Now);
                    inFlight.RemoveAt(f--);
                }
                lab.Step();
                if (!lab.Host.SendsCompleted.Contains(nbl)) lab.Now = lab.Now.AddMicroseconds(1000);
            }
            // RFC 6298 §2 in milliseconds: the reference the export is checked against.
            double r = delays[i];
            if (i == 0) { srtt = r; rttvar = r / 2; }
            else { rttvar = 0.75 * rttvar + 0.25 * Math.Abs(srtt - r); srtt = 0.875 * srtt + 0.125 * r; }
        }
        Assert.Empty(inFlight);
        var d = Query(lab, root);
        double msPerTick = 1000.0 / ticksPerSecond;
        double expectedSRtt = srtt * TcpDelegatedState.SRttScale / msPerTick;   // ×8, in ticks
        double expectedRttVar = rttvar * TcpDelegatedState.RttVarScale / msPerTick; // ×4, in ticks
        Assert.True(Math.Abs(d.SRtt - expectedSRtt) <= 1, $"SRtt {d.SRtt} (×8 ticks), expected {expectedSRtt:F1} (srtt {srtt:F2} ms)");
        Assert.True(Math.Abs(d.RttVar - expectedRttVar) <= 1, $"RttVar {d.RttVar} (×4 ticks), expected {expectedRttVar:F1} (rttvar {rttvar:F2} ms)");
        // The reference itself is not degenerate: the variance is well away from zero and from the smoothed RTT.
        Assert.InRange(rttvar, 40, srtt - 20);
    }

    // ---- row 35: UPDATE_RCV_WND advertises the new InitialRcvWnd ------------------------------------------------------

    /// <summary>Window fields of the target's segments from wire index <paramref name="from"/> (the connection has no
    /// window scaling here, so the field is in bytes).</summary>
    private static List<int> Windows(TargetLab lab, int from)
        => lab.TargetSegments().Skip(from).Select(s => (int)s.Tcp.Window).ToList();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Row35_update_rcv_wnd_advertises_a_larger_window_at_once_and_a_smaller_one_as_data_is_consumed(bool flag)
    {
        const int Small = 16 * 1024, Large = 48 * 1024, Shrunk = 8 * 1024;
        using var lab = new TargetLab();
        // InitialRcvWnd 16 KiB: a window shift of 0, so every window field below is in bytes.
        var host = lab.Establish(TcpConfig.Default with { ReceiveBufferSize = Small, Sack = true });
        var (_, root, ctx) = Offloaded(lab, host);
        Assert.Equal((uint)Small, TcpOf(root).TcpCached!.Value.InitialRcvWnd);
        // The host refuses every indication: the peer's bytes stay in the target and its window closes.
        lab.Host.Answer = _ => (NdisStatus.OffloadDataNotAccepted, 0);
        var data = Nbls.Pattern(200_000, seed: 35);
        lab.Peer.Enqueue(new MemorySendBuffer(data));
        lab.RunFor(TimeSpan.FromSeconds(2));
        var held = Query(lab, root);
        Assert.InRange(held.ReceiveBacklogSize, (uint)(Small - 1460), (uint)Small);
        Assert.True(held.RcvWnd < 1460, $"window {held.RcvWnd} should be closed");

        // The application grows its receive buffer (SO_RCVBUF): the host updates InitialRcvWnd.
        var cached = TcpOf(root).TcpCached!.Value;
        var grow = cached with { InitialRcvWnd = Large, Flags = cached.Flags | (flag ? TcpCachedFlags.UpdateRcvWnd : TcpCachedFlags.None) };
        int before = lab.WireFromTarget.Count;
        Update(lab, TcpUpdate(root, grow));
        if (!flag)
        {
            // Without the flag the window is not re-advertised and stays as it was (EMU decision, docs/target.md).
            lab.RunFor(TimeSpan.FromSeconds(2));
            Assert.DoesNotContain(Windows(lab, before), w => w >= 1460);
            Assert.InRange(Query(lab, root).ReceiveBacklogSize, (uint)(Small - 1460), (uint)Small);
            return;
        }
        // A window update goes out at once (in the first round after the update): the new buffer less what is held.
        var update = lab.TargetSegments().Skip(before).First();
        Assert.Equal(0, update.PayloadLength);
        Assert.InRange(update.Tcp.Window, Large - (int)held.ReceiveBacklogSize - 1460, Large - (int)held.ReceiveBacklogSize);
        lab.RunFor(TimeSpan.FromSeconds(2));
        var grown = Query(lab, root);
        Assert.InRange(grown.ReceiveBacklogSize, (uint)(Large - 1460), (uint)Large);
        Assert.True(grown.RcvWnd < 1460, $"window {grown.RcvWnd} should be closed again at the larger buffer");

        // Then it shrinks its buffer: the right edge never moves left (RFC 9293 §3.8.6.2.1), but as the host takes the
        // data the window reopens only up to the new size.
        var shrink = cached with { InitialRcvWnd = Shrunk, Flags = cached.Flags | TcpCachedFlags.UpdateRcvWnd };
        Update(lab, TcpUpdate(root, shrink));
        before = lab.WireFromTarget.Count;
        lab.Host.Answer = nbl => (NdisStatus.Success, (int)nbl.DataLength);
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadReceive(ctx, Nbls.Post(0))); // re-arms indications (spec §3)
        lab.RunUntil(() => lab.Host.IndicatedData.Length == data.Length, TimeSpan.FromSeconds(60));
        lab.Host.ReturnAccepted();
        Assert.Equal(data, lab.Host.IndicatedData.ToArray());
        var windows = Windows(lab, before);
        Assert.NotEmpty(windows);
        Assert.All(windows, w => Assert.InRange(w, 0, Shrunk));
        Assert.Contains(windows, w => w >= Shrunk - 1460); // it did reopen, to the new size

        // A buffer beyond what an initiate would take (MaxReceiveWindow) is refused; the connection goes on.
        var tooLarge = TcpUpdate(root, cached with { InitialRcvWnd = lab.Target.Options.MaxReceiveWindow + 1, Flags = cached.Flags | TcpCachedFlags.UpdateRcvWnd });
        Assert.Equal(NdisStatus.Pending, lab.Api.UpdateOffload(tooLarge));
        lab.RunUntil(() => lab.Host.Updated.Contains(tooLarge), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Failure, tooLarge.Status);
        Assert.Equal(1, lab.Target.ConnectionCount);
    }

    // ---- row 56: RESUME → the host re-reads the capabilities ----------------------------------------------------------

    [Fact]
    public void Row56_the_host_reads_new_capabilities_at_resume_and_initiates_held_by_the_pause_run_under_them()
    {
        var configured = new TcpConnectionOffloadCapabilities { TcpConnectionOffloadCapacity = 4, SupportIPv4 = true, SupportIPv6 = true, SupportSack = true };
        using var lab = new TargetLab(new OffloadTargetOptions { Capabilities = configured });
        Offloaded(lab);
        Assert.Equal(4u, lab.Api.CurrentCapabilities.TcpConnectionOffloadCapacity);

        lab.Target.IndicatePause();
        lab.RunUntil(() => lab.Host.Statuses.Count == 1, TimeSpan.FromSeconds(1));
        // An initiate racing the pause is held (spec §6.6), not failed.
        var second = lab.Establish();
        var held = lab.BuildTree(second, out var heldTcp, handleBase: 0x300);
        heldTcp.TcpConst = heldTcp.TcpConst!.Value with { LocalPort = TargetLab.LocalPort + 1 };
        Assert.Equal(NdisStatus.Pending, lab.Api.InitiateOffload(held));
        lab.RunFor(TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(held, lab.Host.Initiated);

        // The NIC comes back with room for one connection only, and without SACK or IPv6.
        var reduced = configured with { TcpConnectionOffloadCapacity = 1, SupportIPv6 = false, SupportSack = false };
        Assert.Throws<ArgumentException>(() => lab.Target.IndicateResume(configured with { TcpConnectionOffloadCapacity = 0 }));
        lab.Target.IndicateResume(reduced);
        lab.RunUntil(() => lab.Host.Statuses.Count == 2 && lab.Host.Initiated.Contains(held), TimeSpan.FromSeconds(1));
        Assert.Equal([NdisStatus.OffloadPause, NdisStatus.OffloadResume], lab.Host.Statuses);
        // What the host read in each callback, through the contract checker: the old set at the pause, the new at the resume.
        Assert.Equal(configured, lab.Host.CapabilitiesAtStatus[0]);
        Assert.Equal(reduced, lab.Host.CapabilitiesAtStatus[1]);
        Assert.Equal(reduced, lab.Api.CurrentCapabilities);
        Assert.Equal(configured, lab.Api.HardwareCapabilities); // the hardware capabilities do not change
        // The held initiate ran after the resume under the new capacity (the old one had room for it).
        Assert.Equal(NdisStatus.OffloadTcpEntries, heldTcp.Status);
        Assert.Equal(1, lab.Target.ConnectionCount);
        // A resume without capabilities keeps the current ones.
        lab.Target.IndicatePause();
        lab.Target.IndicateResume();
        lab.RunUntil(() => lab.Host.Statuses.Count == 4, TimeSpan.FromSeconds(1));
        Assert.Equal(reduced, lab.Host.CapabilitiesAtStatus[3]);
    }
}
