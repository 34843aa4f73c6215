using OffloadEmu.Target;

namespace OffloadEmu.HostStack.Tests;

/// <summary>
/// Spec §6.4 from the host side: the target's neighbour reachability queries are answered from the ARP cache's real
/// state (ticks since the last confirmation while reachable, 0 when stale); a stale answer starts a verification: the
/// NIC's NicReachabilityDelta first, then unicast ARP probes, and a neighbour that never answers is invalidated so its
/// connections come back to host mode.
/// </summary>
public sealed class NeighborReachabilityTests
{
    private const uint Tps = 1000;

    /// <summary>A layer between the stack and the target that records each reachability answer the stack wrote.</summary>
    internal sealed class AnswerRecorder(IOffloadTarget inner) : DelegatingOffloadTarget(inner), IOffloadHost
    {
        private IOffloadHost _host = null!;

        public List<uint> Answers { get; } = [];

        public override void Bind(IOffloadHost host)
        {
            _host = host;
            Inner.Bind(this);
        }

        public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
        {
            _host.NeighborOffloadEvent(neighborBlock, code);
            Answers.Add(neighborBlock.NeighborCached!.Value.HostReachabilityDelta);
        }

        public void InitiateOffloadComplete(OffloadBlock root) => _host.InitiateOffloadComplete(root);
        public void TerminateOffloadComplete(OffloadBlock root) => _host.TerminateOffloadComplete(root);
        public void UpdateOffloadComplete(OffloadBlock root) => _host.UpdateOffloadComplete(root);
        public void InvalidateOffloadComplete(OffloadBlock root) => _host.InvalidateOffloadComplete(root);
        public void QueryOffloadStateComplete(OffloadBlock root) => _host.QueryOffloadStateComplete(root);
        public void TcpOffloadSendComplete(NetBufferList chain) => _host.TcpOffloadSendComplete(chain);
        public void TcpOffloadReceiveComplete(NetBufferList chain) => _host.TcpOffloadReceiveComplete(chain);
        public void TcpOffloadDisconnectComplete(NetBufferList nbl) => _host.TcpOffloadDisconnectComplete(nbl);
        public void TcpOffloadForwardComplete(NetBufferList chain) => _host.TcpOffloadForwardComplete(chain);
        public NdisStatus TcpOffloadReceiveIndicate(ulong handle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
            => _host.TcpOffloadReceiveIndicate(handle, nbl, status, out bytesConsumed);
        public void TcpOffloadEvent(ulong handle, TcpOffloadEventType type, uint info) => _host.TcpOffloadEvent(handle, type, info);
        public void IndicateStatus(NdisStatus adapterStatus) => _host.IndicateStatus(adapterStatus);
        public void ReceiveFrame(ReadOnlySpan<byte> frame) => _host.ReceiveFrame(frame);
    }

    private static (StackLab Lab, AnswerRecorder Recorder, OffloadSocket Socket, PeerConnection Peer) Connected(TimeSpan reachableTime)
    {
        AnswerRecorder? recorder = null;
        var lab = new StackLab(new HostStackOptions
        {
            OffloadPolicy = OffloadPolicy.AfterHandshake,
            NeighborReachableTime = reachableTime,
            // The target asks about the neighbour once neither side has confirmed it for a second.
            OffloadParameters = OffloadParameters.Default with { NceStaleTicks = Tps },
        }, decorate: t => recorder = new AnswerRecorder(t));
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        return (lab, recorder!, socket, Assert.Single(lab.PeerConnections.Values));
    }

    private static int UnicastArpRequestsToPeer(StackLab lab)
    {
        int n = 0;
        foreach (var frame in lab.WireFromHost)
        {
            if (!EthernetFrame.TryCreate(frame, out var eth) || eth.EtherType != EtherType.Arp) continue;
            if (eth.Destination == lab.PeerSide.MacAddress) n++;
        }
        return n;
    }

    private static void SendAndCheck(StackLab lab, OffloadSocket socket, PeerConnection peer, int length, int seed)
    {
        long before = peer.Received.Length;
        var data = AppIo.Pattern(length, seed);
        lab.Run(AppIo.WriteAsync(socket, data), TimeSpan.FromSeconds(30));
        lab.RunUntil(() => peer.Received.Length == before + length, TimeSpan.FromSeconds(60));
        Assert.Equal(data, peer.Received.ToArray().AsSpan((int)before).ToArray());
    }

    [Fact]
    public void A_reachable_neighbour_is_answered_with_the_ticks_since_its_confirmation()
    {
        var (lab, recorder, socket, peer) = Connected(TimeSpan.FromSeconds(60));
        using var _ = lab;
        lab.RunFor(TimeSpan.FromSeconds(3));   // idle: no forward progress for the NIC either
        SendAndCheck(lab, socket, peer, 10_000, 1);
        uint answer = Assert.Single(recorder.Answers);
        Assert.InRange(answer, 2_900u, 3_100u);   // ≈ 3 s at 1000 ticks/s since the ARP answer during the connect
        Assert.Equal(0, lab.Stack.Statistics.NeighborVerifications);
        Assert.Equal(0, UnicastArpRequestsToPeer(lab));
    }

    [Fact]
    public void A_stale_neighbour_the_nic_saw_recently_is_confirmed_by_its_nic_reachability_delta_without_probing()
    {
        var (lab, recorder, socket, peer) = Connected(TimeSpan.FromSeconds(2));
        using var _ = lab;
        // Traffic for 1.5 s: the NIC sees forward progress (its NRT moves); the host's own confirmation ages.
        var end = lab.Now + TimeSpan.FromSeconds(1.5);
        int seed = 10;
        while (lab.Now < end)
        {
            SendAndCheck(lab, socket, peer, 20_000, seed++);
            lab.RunFor(TimeSpan.FromMilliseconds(100));
        }
        lab.RunFor(TimeSpan.FromSeconds(1.3));   // now the host's entry is stale (> 2 s), the NIC's evidence 1.3 s old
        SendAndCheck(lab, socket, peer, 10_000, 99);
        Assert.Equal(0u, Assert.Single(recorder.Answers));   // stale → 0, and the host verifies
        lab.RunFor(TimeSpan.FromMilliseconds(50));
        Assert.Equal(1, lab.Stack.Statistics.NeighborVerifications);
        Assert.Equal(1, lab.Stack.Statistics.NeighborsConfirmedByNic);
        Assert.Equal(0, UnicastArpRequestsToPeer(lab));

        // Confirmed about 1.3 s ago: the next query (after the target's NceStaleTicks mute) is answered reachable.
        lab.RunFor(TimeSpan.FromSeconds(1.2));
        SendAndCheck(lab, socket, peer, 10_000, 100);
        Assert.Equal(2, recorder.Answers.Count);
        Assert.InRange(recorder.Answers[1], 1u, 2_000u);
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
    }

    [Fact]
    public void A_stale_neighbour_is_probed_with_unicast_arp_and_the_answer_confirms_it()
    {
        var (lab, recorder, socket, peer) = Connected(TimeSpan.FromSeconds(1));
        using var _ = lab;
        lab.RunFor(TimeSpan.FromSeconds(3));   // both the host's and the NIC's evidence are 3 s old
        // The peer's TCP does not answer for a moment: no forward progress refreshes the NIC's evidence before the host
        // asks for it, so the host has to probe.
        lab.PeerIgnoresTcp = true;
        var data = AppIo.Pattern(10_000, 2);
        var write = AppIo.WriteAsync(socket, data);
        lab.RunFor(TimeSpan.FromMilliseconds(100));
        lab.PeerIgnoresTcp = false;
        lab.Run(write, TimeSpan.FromSeconds(30));
        lab.RunUntil(() => peer.Received.Length == data.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(data, peer.Received.ToArray());
        Assert.Equal(0u, recorder.Answers[0]);
        Assert.Equal(1, lab.Stack.Statistics.NeighborVerifications);
        Assert.Equal(0, lab.Stack.Statistics.NeighborsConfirmedByNic);
        Assert.Equal(1, UnicastArpRequestsToPeer(lab));   // one probe, answered
        Assert.Equal(0, lab.Stack.Statistics.NeighborsInvalidated);
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
        // The answer confirmed it: no further probe while it stays reachable.
        lab.RunFor(TimeSpan.FromMilliseconds(500));
        Assert.Equal(1, UnicastArpRequestsToPeer(lab));
    }

    [Fact]
    public void A_neighbour_that_ignores_the_probes_is_invalidated_and_its_connection_continues_in_host_mode()
    {
        var (lab, recorder, socket, peer) = Connected(TimeSpan.FromSeconds(1));
        using var _ = lab;
        var first = AppIo.Pattern(10_000, 4);
        lab.Run(AppIo.WriteAsync(socket, first));
        lab.RunUntil(() => peer.Received.Length == first.Length, TimeSpan.FromSeconds(5));
        lab.PeerAnswersArp = false;   // the neighbour goes silent
        lab.PeerIgnoresTcp = true;
        lab.RunFor(TimeSpan.FromSeconds(3));
        var second = AppIo.Pattern(50_000, 5);
        var write = AppIo.WriteAsync(socket, second);
        lab.RunUntil(() => lab.Stack.Statistics.NeighborsInvalidated == 1, TimeSpan.FromSeconds(30));
        Assert.Equal(0u, recorder.Answers[0]);
        Assert.True(UnicastArpRequestsToPeer(lab) >= 2, "the probes were not unicast to the neighbour");
        // The invalidated neighbour's connection is retrieved (InvalidState) and uploaded.
        lab.RunUntil(() => socket.Location == ConnectionLocation.Host, TimeSpan.FromSeconds(10));

        // The neighbour comes back: host-mode resolution finds it and the stream completes, byte-exact.
        lab.PeerAnswersArp = true;
        lab.PeerIgnoresTcp = false;
        lab.Run(write, TimeSpan.FromSeconds(120));
        lab.RunUntil(() => peer.Received.Length == first.Length + second.Length, TimeSpan.FromSeconds(120));
        Assert.Equal(first.Concat(second).ToArray(), peer.Received.ToArray());
    }
}
