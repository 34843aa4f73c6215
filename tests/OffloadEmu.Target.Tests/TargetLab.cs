using OffloadEmu.Link;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Target.Tests;

/// <summary>
/// A deterministic lab: the offload target in manual mode on one end of a <see cref="MemoryLink"/>, a TCP machine
/// playing the remote peer on the other, a recording host, one thread and a manual clock.
/// </summary>
internal sealed class TargetLab : IDisposable
{
    public static readonly Ipv4Address HostIp = new(198, 18, 0, 2);
    public static readonly Ipv4Address PeerIp = new(198, 18, 0, 1);
    // IPv6 runs only inside this process (MemoryLink): unique-local addresses.
    public static readonly Ipv6Address HostIp6 = Ipv6Address.Parse("fd00:198:18::2");
    public static readonly Ipv6Address PeerIp6 = Ipv6Address.Parse("fd00:198:18::1");
    public const ushort LocalPort = 40000;
    public const ushort RemotePort = 7;

    private readonly FrameBuffer[] _batch;
    private readonly PeerWriter _peerWriter;
    private readonly HostWriter _hostWriter;
    private readonly FramePool _pool;
    private ushort _peerIpId = 1;

    public TargetLab(OffloadTargetOptions? options = null, TcpConfig? peerConfig = null, MemoryLinkOptions? link = null,
        int passThroughLayers = 0, bool ipv6 = false, int queues = 1)
    {
        Ipv6 = ipv6;
        _pool = link is { SegmentationOffload: true } ? new FramePool(FramePool.SuperFrameBufferSize, 256) : new FramePool();
        MemoryLink peer;
        if (queues == 1)
        {
            MemoryLink.CreatePair(out var nic, out peer, link);
            NicQueues = [nic];
        }
        else
        {
            MemoryLink.CreateMultiQueue(out var nics, out peer, queues, link);
            NicQueues = nics;
        }
        NicSide = NicQueues[0];
        PeerSide = peer;
        Queue = CompletionQueue.CreateManual();
        Target = new OffloadTarget(NicQueues, options, Queue);
        IOffloadTarget api = Target;
        for (int i = 0; i < passThroughLayers; i++) api = new PassThroughOffloadLayer(api, Queue);
        // Every test talks through the contract checker; a rule broken by either side fails the test at Dispose.
        Checker = new ContractChecker(api, new ContractCheckerOptions { Mode = ContractCheckerMode.Record });
        Api = Checker;
        Host = new TestHost { Target = Api };
        Api.Bind(Host);
        PeerConfig = peerConfig ?? TcpConfig.Default with { ReceiveBufferSize = 256 * 1024, Sack = true };
        // MSS for the link: 1500 − 40 (IPv4 + TCP) or − 60 (IPv6 + TCP).
        if (ipv6) PeerConfig = PeerConfig with { Mss = (ushort)(PeerConfig.Mss - 20) };
        _batch = new FrameBuffer[64];
        for (int i = 0; i < _batch.Length; i++) _batch[i] = _pool.Rent();
        _peerWriter = new PeerWriter(this);
        _hostWriter = new HostWriter(this);
        Now = Instant.FromSeconds(1000);
    }

    public MemoryLink NicSide { get; }
    /// <summary>Every link queue of the target (one unless the lab was made with several).</summary>
    public MemoryLink[] NicQueues { get; }
    public MemoryLink PeerSide { get; }
    public CompletionQueue Queue { get; }
    /// <summary>True when the connection runs over IPv6 (fd00:198:18::/64) instead of IPv4.</summary>
    public bool Ipv6 { get; }

    /// <summary>The contract checker between the test host and the target (record mode).</summary>
    public ContractChecker Checker { get; }

    /// <summary>Rules a test breaks on purpose (host-side misuse it checks the target survives).</summary>
    public HashSet<ContractRule> ExpectedViolations { get; } = [];

    /// <summary>The emulated NIC itself: polling, statistics, fault injection.</summary>
    public OffloadTarget Target { get; }

    /// <summary>What the host talks to: the target, or the top of the layers stacked on it. Every chimney request in
    /// the tests goes through here.</summary>
    public IOffloadTarget Api { get; }
    public TestHost Host { get; }
    public TcpConfig PeerConfig { get; }
    public Instant Now { get; set; }

    /// <summary>The remote end (null until <see cref="Establish"/>).</summary>
    public TcpMachine Peer { get; private set; } = null!;

    /// <summary>Data the peer application has read.</summary>
    public MemoryStream PeerReceived { get; } = new();

    /// <summary>Frames the target put on the wire, in order (copies).</summary>
    public List<byte[]> WireFromTarget { get; } = [];

    /// <summary>The offload metadata of each frame in <see cref="WireFromTarget"/> (segmentation offload links).</summary>
    public List<VirtioNetHeader> OffloadFromTarget { get; } = [];

    /// <summary>When false the peer's machine stops reading (its window fills).</summary>
    public bool PeerReads { get; set; } = true;

    /// <summary>When set, frames from the target are dropped before the peer sees them (blackhole).</summary>
    public Func<byte[], bool>? DropToPeer { get; set; }

    /// <summary>A host-mode machine the lab runs over the target's non-offload path (after an upload, or before an
    /// offload): its segments go down through <see cref="IOffloadTarget.SendFrame"/>, and the TCP frames the target
    /// passes up (<see cref="TestHost.Frames"/>) come back to it. Null when no connection lives in the host.</summary>
    public TcpMachine? HostMachine { get; set; }

    /// <summary>Data the host-mode machine's application has read.</summary>
    public MemoryStream HostReceived { get; } = new();

    /// <summary>When set, the peer's frames for which it returns true are lost before the target sees them.</summary>
    public Func<byte[], bool>? DropToTarget { get; set; }

    /// <summary>When true the peer's segments reach the target with PSH cleared (checksum refilled): a peer whose
    /// writes never end, for the push-timer rules.</summary>
    public bool ClearPeerPsh { get; set; }

    /// <summary>
    /// Opens a connection between a host-side machine and the peer by handshake, without the target (the host stack's
    /// job), and returns the host-side machine ready to be offloaded.
    /// </summary>
    public TcpMachine Establish(TcpConfig? hostConfig = null)
    {
        hostConfig ??= TcpConfig.Default with { ReceiveBufferSize = 64 * 1024, Sack = true };
        if (Ipv6) hostConfig = hostConfig with { Mss = (ushort)(hostConfig.Mss - 20) };
        var addresses = Ipv6 ? TcpEndpointAddresses.Ipv6(HostIp6, PeerIp6) : TcpEndpointAddresses.Ipv4(HostIp, PeerIp);
        Peer = TcpMachine.Listen(PeerConfig, addresses.Reversed, RemotePort);
        var host = TcpMachine.Connect(hostConfig, addresses, LocalPort, RemotePort, Now);
        var a = new Collector();
        var b = new Collector();
        for (int i = 0; i < 10; i++)
        {
            host.Dispatch(Now, a);
            foreach (var s in a.Take()) Peer.ProcessSegment(s, Now);
            Peer.Dispatch(Now, b);
            foreach (var s in b.Take()) host.ProcessSegment(s, Now);
        }
        Assert.Equal(TcpState.Established, host.State);
        Assert.Equal(TcpState.Established, Peer.State);
        host.TakeEvents();
        Peer.TakeEvents();
        return host;
    }

    /// <summary>Builds neighbour → path → TCP offload blocks for a host-side machine (all new offloads).</summary>
    public OffloadBlock BuildTree(TcpMachine host, out OffloadBlock tcpBlock, uint pathMtu = 1500, NeighborConstState neighborConst = default,
        ulong handleBase = 0x100)
    {
        var neighbor = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = handleBase + 1,
            NeighborConst = neighborConst,
            NeighborCached = new NeighborCachedState { DlDestinationAddress = PeerSide.MacAddress, HostReachabilityDelta = 0 },
            NeighborDelegated = new NeighborDelegatedState(),
        };
        var path = new OffloadBlock(Ipv6 ? OffloadBlockType.Ip6OffloadState : OffloadBlockType.Ip4OffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = handleBase + 2,
            PathConst = Ipv6
                ? new PathConstState { SourceAddress = HostIp6, DestinationAddress = PeerIp6 }
                : new PathConstState { SourceAddress = HostIp, DestinationAddress = PeerIp },
            PathCached = new PathCachedState { PathMtu = pathMtu },
            PathDelegated = new PathDelegatedState(),
        };
        tcpBlock = TcpBlock(host, handleBase + 3);
        neighbor.AddDependent(path);
        path.AddDependent(tcpBlock);
        return neighbor;
    }

    public OffloadBlock TcpBlock(TcpMachine host, ulong handle)
    {
        return new OffloadBlock(OffloadBlockType.TcpOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = handle,
            TcpConst = host.ExportConstState(),
            TcpCached = host.ExportCachedState(),
            TcpDelegated = host.ExportDelegatedState(Now),
        };
    }

    /// <summary>Offloads the connection and returns its context (asserts every block succeeded).</summary>
    public ulong Offload(TcpMachine host, out OffloadBlock root)
    {
        root = BuildTree(host, out var tcp);
        Assert.Equal(NdisStatus.Pending, Api.InitiateOffload(root));
        var r = root;
        RunUntil(() => Host.Initiated.Contains(r), TimeSpan.FromSeconds(1));
        foreach (var visit in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, visit.Block.Status);
        return tcp.MiniportOffloadContext!.Context;
    }

    public ulong Offload(TcpMachine host) => Offload(host, out _);

    /// <summary>One round: target, completions, peer.</summary>
    public int Step()
    {
        int work = Target.Poll(Now);
        work += Queue.RunPending();
        work += PeerStep();
        work += Target.Poll(Now);
        work += Queue.RunPending();
        work += HostStep();
        return work;
    }

    private int _hostFramesSeen;

    private int HostStep()
    {
        var host = HostMachine;
        if (host is null) return 0;
        int work = 0;
        for (; _hostFramesSeen < Host.Frames.Count; _hostFramesSeen++)
        {
            var frame = Host.Frames[_hostFramesSeen];
            if (!EthernetFrame.TryCreate(frame, out var eth) || eth.EtherType != EtherType.Ipv4) continue;
            if (!Ipv4Packet.TryCreate(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp) continue;
            if (!TcpSegment.TryCreate(ip.Payload, out var seg) || seg.DestinationPort != LocalPort) continue;
            host.ProcessSegment(ip.Payload, Now);
            work++;
        }
        Span<byte> buffer = stackalloc byte[16384];
        int read;
        while ((read = host.Receive(buffer)) > 0)
        {
            HostReceived.Write(buffer[..read]);
            work++;
        }
        work += host.Dispatch(Now, _hostWriter);
        return work;
    }

    /// <summary>Wraps a TCP segment from the host into Ethernet + IPv4 (IP-ID from the host's lower half).</summary>
    public byte[] FrameFromHost(ReadOnlySpan<byte> tcp)
    {
        var eth = new EthernetRepr(NicSide.MacAddress, PeerSide.MacAddress, EtherType.Ipv4);
        var frame = new byte[eth.BufferLength + 20 + tcp.Length];
        eth.Emit(frame);
        new Ipv4Repr(HostIp, PeerIp, IpProtocol.Tcp, tcp.Length, 64, (ushort)(_hostIpId++ & 0x7FFF), dontFragment: true).Emit(frame.AsSpan(eth.BufferLength));
        tcp.CopyTo(frame.AsSpan(eth.BufferLength + 20));
        return frame;
    }

    private int _hostIpId = 1;

    private int PeerStep()
    {
        int work = 0;
        int n;
        while ((n = PeerSide.Receive(_batch, 0)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                var offload = _batch[i].Offload;
                // Segmentation offload: the peer plays the kernel, which completes a partial checksum (and for a local
                // receiver keeps a super-segment whole).
                if (offload.ChecksumPartial) TestChecksum.CompletePartial(_batch[i].Span, offload);
                var copy = _batch[i].Span.ToArray();
                WireFromTarget.Add(copy);
                OffloadFromTarget.Add(offload);
                if (DropToPeer?.Invoke(copy) == true) continue;
                if (Peer is null) continue;
                if (!TryTcpPayload(_batch[i].Span, out var tcpBytes)) continue;
                Peer.ProcessSegment(tcpBytes, Now);
                work++;
            }
        }
        if (Peer is null) return work;
        if (PeerReads)
        {
            Span<byte> buffer = stackalloc byte[16384];
            int read;
            while ((read = Peer.Receive(buffer)) > 0)
            {
                PeerReceived.Write(buffer[..read]);
                work++;
            }
        }
        work += Peer.Dispatch(Now, _peerWriter);
        return work;
    }

    /// <summary>Runs rounds, advancing the clock to the next timer when idle, until <paramref name="done"/> or the
    /// simulated <paramref name="timeout"/> passes (then fails).</summary>
    public void RunUntil(Func<bool> done, TimeSpan timeout)
    {
        var end = Now + timeout;
        var spin = new LivelockGuard();
        while (true)
        {
            int work = Step();
            if (done()) return;
            if (Now >= end) Assert.Fail($"Condition not reached within {timeout.TotalMilliseconds} ms of simulated time.");
            if (work == 0) Advance(end);
            spin.Check(Now);
        }
    }

    /// <summary>Runs for <paramref name="duration"/> of simulated time.</summary>
    public void RunFor(TimeSpan duration)
    {
        var end = Now + duration;
        var spin = new LivelockGuard();
        while (Now < end)
        {
            if (Step() == 0) Advance(end);
            spin.Check(Now);
        }
        Step();
    }

    private void Advance(Instant limit)
    {
        var next = Target.NextWake;
        if (Peer is not null) next = Instant.Min(next, Peer.PollAt());
        if (HostMachine is not null) next = Instant.Min(next, HostMachine.PollAt());
        next = Instant.Min(next, limit);
        if (next <= Now) next = Now.AddMicroseconds(1000);
        Now = next;
    }

    /// <summary>Sends a raw Ethernet frame to the target from the peer's side.</summary>
    public void Inject(ReadOnlySpan<byte> frame) => Inject(frame, default);

    /// <summary>Sends <paramref name="frame"/> to the target with offload metadata (segmentation offload links).</summary>
    public void Inject(ReadOnlySpan<byte> frame, VirtioNetHeader offload)
    {
        var buffer = _pool.Rent();
        frame.CopyTo(buffer.Array);
        buffer.Length = frame.Length;
        buffer.Offload = offload;
        PeerSide.Send([buffer]);
        _pool.Return(buffer);
    }

    /// <summary>The TCP bytes of an IPv4 or IPv6 frame (false for anything else).</summary>
    public static bool TryTcpPayload(Span<byte> frame, out Span<byte> tcp)
    {
        tcp = default;
        if (!EthernetFrame.TryCreate(frame, out var eth)) return false;
        if (eth.EtherType == EtherType.Ipv4)
        {
            if (!Ipv4Packet.TryCreate(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp) return false;
            tcp = ip.Payload;
            return true;
        }
        if (eth.EtherType == EtherType.Ipv6)
        {
            if (!Ipv6Packet.TryCreate(eth.Payload, out var ip6) || ip6.UpperLayerProtocol != IpProtocol.Tcp) return false;
            tcp = ip6.UpperLayerPayload;
            return true;
        }
        return false;
    }

    /// <summary>Wraps a TCP segment from the peer into Ethernet + IPv4 (no options, DF) or IPv6.</summary>
    public byte[] FrameFromPeer(ReadOnlySpan<byte> tcp, VlanTag? tag = null)
    {
        if (Ipv6)
        {
            var eth6 = new EthernetRepr(PeerSide.MacAddress, NicSide.MacAddress, EtherType.Ipv6, tag);
            var frame6 = new byte[eth6.BufferLength + Ipv6Packet.HeaderLength + tcp.Length];
            eth6.Emit(frame6);
            new Ipv6Repr(PeerIp6, HostIp6, IpProtocol.Tcp, tcp.Length).Emit(frame6.AsSpan(eth6.BufferLength));
            tcp.CopyTo(frame6.AsSpan(eth6.BufferLength + Ipv6Packet.HeaderLength));
            return frame6;
        }
        var eth = new EthernetRepr(PeerSide.MacAddress, NicSide.MacAddress, EtherType.Ipv4, tag);
        var frame = new byte[eth.BufferLength + 20 + tcp.Length];
        eth.Emit(frame);
        new Ipv4Repr(PeerIp, HostIp, IpProtocol.Tcp, tcp.Length, 64, _peerIpId++, dontFragment: true).Emit(frame.AsSpan(eth.BufferLength));
        tcp.CopyTo(frame.AsSpan(eth.BufferLength + 20));
        return frame;
    }

    /// <summary>Builds a TCP segment from the peer to the host with a valid checksum.</summary>
    /// <summary>The options of a hand-made segment from the peer: its timestamps when the connection has them.</summary>
    public static TcpOptions PeerTimestamps(TargetLab lab)
        => lab.Peer.TimestampsEnabled ? new TcpOptions { Timestamps = new TcpTimestamps(lab.Peer.TsValAt(lab.Now), lab.Peer.TsRecent) } : default;

    public static byte[] Segment(TcpRepr repr, ReadOnlySpan<byte> payload)
    {
        repr = repr with { PayloadLength = payload.Length };
        var bytes = new byte[repr.BufferLength + payload.Length];
        repr.Emit(bytes, PeerIp, HostIp, payload);
        return bytes;
    }

    /// <summary>The TCP segments the target sent (parsed copies).</summary>
    public IEnumerable<(Ipv4Repr Ip, TcpRepr Tcp, int PayloadLength, byte[] Frame)> TargetSegments()
    {
        foreach (var frame in WireFromTarget)
        {
            var span = frame.AsSpan();
            if (!EthernetFrame.TryCreate(span, out var eth) || eth.EtherType != EtherType.Ipv4) continue;
            if (!Ipv4Packet.TryCreate(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp) continue;
            Ipv4Repr.TryParse(ip, out var ipRepr);
            if (!TcpSegment.TryCreate(ip.Payload, out var seg) || !TcpRepr.TryParse(seg, ip.Source, ip.Destination, out var tcp)) continue;
            yield return (ipRepr, tcp, seg.Payload.Length, frame);
        }
    }

    public void Dispose()
    {
        var unexpected = Checker.Violations.Where(v => !ExpectedViolations.Contains(v.Rule)).ToList();
        Target.Dispose();
        foreach (var q in NicQueues) q.Dispose();
        PeerSide.Dispose();
        Assert.True(unexpected.Count == 0, "contract violations: " + string.Join("; ", unexpected));
    }

    /// <summary>Fails a run whose rounds keep doing work without the clock moving (an ACK war, a loop that
    /// re-sends forever) instead of letting it spin until memory runs out.</summary>
    private struct LivelockGuard
    {
        private const int MaxRoundsAtOneInstant = 100_000;
        private Instant _at;
        private int _rounds;

        public void Check(Instant now)
        {
            if (now != _at) { _at = now; _rounds = 0; return; }
            if (++_rounds > MaxRoundsAtOneInstant)
                Assert.Fail($"Livelock: {MaxRoundsAtOneInstant} rounds did work at {now} without the clock advancing.");
        }
    }

    private sealed class HostWriter(TargetLab lab) : ITcpSegmentWriter
    {
        private readonly byte[] _buffer = new byte[65_536];

        public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, Math.Min(length, _buffer.Length));

        public void Commit(int length) => Assert.Equal(NdisStatus.Success, lab.Api.SendFrame(lab.FrameFromHost(_buffer.AsSpan(0, length))));
    }

    private sealed class PeerWriter(TargetLab lab) : ITcpSegmentWriter
    {
        private readonly byte[] _buffer = new byte[65_536];

        public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, Math.Min(length, _buffer.Length));

        public void Commit(int length)
        {
            var segment = _buffer.AsSpan(0, length);
            if (lab.ClearPeerPsh && TcpSegment.TryCreate(segment, out var tcp) && (tcp.Flags & TcpFlags.Psh) != 0)
            {
                tcp.Flags &= ~TcpFlags.Psh;
                if (lab.Ipv6) tcp.FillChecksum(PeerIp6, HostIp6);
                else tcp.FillChecksum(PeerIp, HostIp);
            }
            var frame = lab.FrameFromPeer(segment);
            if (lab.DropToTarget?.Invoke(frame) == true) return;
            lab.Inject(frame);
        }
    }

    private sealed class Collector : ITcpSegmentWriter
    {
        private readonly List<byte[]> _segments = [];
        private byte[] _buffer = new byte[65_536];

        public Span<byte> GetBuffer(int length)
        {
            if (_buffer.Length < length) _buffer = new byte[length];
            return _buffer.AsSpan(0, length);
        }

        public void Commit(int length) => _segments.Add(_buffer.AsSpan(0, length).ToArray());

        public List<byte[]> Take()
        {
            var list = new List<byte[]>(_segments);
            _segments.Clear();
            return list;
        }
    }
}

internal static class TestChecksum
{
    /// <summary>What a device does with NEEDS_CSUM: the sum from csum_start to the end at csum_start + csum_offset.</summary>
    public static void CompletePartial(Span<byte> frame, VirtioNetHeader offload)
    {
        int start = offload.ChecksumStart;
        int field = start + offload.ChecksumOffset;
        ushort value = InternetChecksum.Finish(InternetChecksum.Accumulate(frame[start..]));
        frame[field] = (byte)(value >> 8);
        frame[field + 1] = (byte)value;
    }
}
