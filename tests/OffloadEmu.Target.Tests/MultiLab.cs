using OffloadEmu.Link;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Target.Tests;

/// <summary>
/// A deterministic lab for a multi-queue target: the target in manual mode over the queues of a multi-queue
/// <see cref="MemoryLink"/>, one peer <see cref="TcpMachine"/> per connection behind the single end (demultiplexed by
/// port), a recording host, one thread and a manual clock.
/// </summary>
internal sealed class MultiLab : IDisposable
{
    private const ushort PeerPort = 7;
    private readonly FramePool _pool = new();
    private readonly FrameBuffer[] _batch = new FrameBuffer[64];
    private readonly PeerWriter _writer;
    private ushort _nextPort = 40000;

    public MultiLab(int queues, bool build = true)
    {
        Queues = queues;
        for (int i = 0; i < _batch.Length; i++) _batch[i] = _pool.Rent();
        _writer = new PeerWriter(this);
        Now = Instant.FromSeconds(1000);
        if (!build) return;
        MemoryLink.CreateMultiQueue(out var nics, out var peer, queues);
        Nics = nics;
        PeerSide = peer;
        Queue = CompletionQueue.CreateManual();
        Target = new OffloadTarget(nics, new OffloadTargetOptions(), Queue);
        Host = new TestHost { Target = Target, RecordByHandle = true };
        Target.Bind(Host);
    }

    public int Queues { get; }
    public MemoryLink[] Nics { get; } = [];
    public MemoryLink PeerSide { get; } = null!;
    public CompletionQueue Queue { get; } = null!;
    public OffloadTarget Target { get; } = null!;
    public TestHost Host { get; } = null!;
    public Instant Now { get; set; }
    public List<Conn> Conns { get; } = [];

    /// <summary>Frames the peers sent to the target.</summary>
    public long FramesToTarget { get; private set; }

    /// <summary>Frames the target sent to the peers.</summary>
    public long FramesFromTarget { get; private set; }

    /// <summary>(local port, TCP payload length) of every segment from the target.</summary>
    public List<(ushort Port, int Length)> FramesFromTargetPayloads { get; } = [];

    public sealed class Conn
    {
        public ushort LocalPort { get; init; }
        public int Loop { get; init; }
        public TcpMachine HostMachine { get; init; } = null!;
        public TcpMachine Peer { get; init; } = null!;
        public OffloadBlock Block { get; set; } = null!;
        public ulong Context => Block.MiniportOffloadContext!.Context;
        public ulong Handle => Block.NdisOffloadHandle;
        public byte[] Sent { get; set; } = [];
        public byte[] PeerSends { get; set; } = [];
        public MemoryStream PeerReceived { get; } = new();
    }

    /// <summary>Opens a connection by handshake (host machine ⇄ peer machine, without the target) on a local port the
    /// loop hash gives to <paramref name="loop"/> (the first such port from <paramref name="from"/>, else the next free).</summary>
    public Conn Connect(int loop, ushort from = 0)
    {
        ushort port = from != 0 ? from : _nextPort;
        var hostIp = new IpAddressValue(TargetLab.HostIp);
        var peerIp = new IpAddressValue(TargetLab.PeerIp);
        while (LoopHash.LoopOf(new ConnectionKey(peerIp, hostIp, PeerPort, port), Queues) != loop) port++;
        if (from == 0) _nextPort = (ushort)(port + 1);
        var addresses = TcpEndpointAddresses.Ipv4(TargetLab.HostIp, TargetLab.PeerIp);
        var peer = TcpMachine.Listen(TcpConfig.Default with { ReceiveBufferSize = 256 * 1024, Sack = true }, addresses.Reversed, PeerPort);
        var host = TcpMachine.Connect(TcpConfig.Default with { ReceiveBufferSize = 64 * 1024, Sack = true }, addresses, port, PeerPort, Now);
        var a = new Collector();
        var b = new Collector();
        for (int i = 0; i < 10; i++)
        {
            host.Dispatch(Now, a);
            foreach (var s in a.Take()) peer.ProcessSegment(s, Now);
            peer.Dispatch(Now, b);
            foreach (var s in b.Take()) host.ProcessSegment(s, Now);
        }
        Assert.Equal(TcpState.Established, host.State);
        Assert.Equal(TcpState.Established, peer.State);
        host.TakeEvents();
        peer.TakeEvents();
        var conn = new Conn { LocalPort = port, Loop = loop, HostMachine = host, Peer = peer };
        Conns.Add(conn);
        return conn;
    }

    /// <summary>One neighbour, one path, a TCP block per connection under it (all new offloads).</summary>
    public OffloadBlock BuildTree(Conn[] conns, MacAddress? peerMac = null)
    {
        var neighbor = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = 0x10_0000 + (ulong)conns[0].LocalPort,
            NeighborConst = default(NeighborConstState),
            NeighborCached = new NeighborCachedState { DlDestinationAddress = peerMac ?? PeerSide.MacAddress },
            NeighborDelegated = new NeighborDelegatedState(),
        };
        var path = new OffloadBlock(OffloadBlockType.Ip4OffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = 0x20_0000 + (ulong)conns[0].LocalPort,
            PathConst = new PathConstState { SourceAddress = TargetLab.HostIp, DestinationAddress = TargetLab.PeerIp },
            PathCached = new PathCachedState { PathMtu = 1500 },
            PathDelegated = new PathDelegatedState(),
        };
        neighbor.AddDependent(path);
        foreach (var c in conns)
        {
            c.Block = new OffloadBlock(OffloadBlockType.TcpOffloadState)
            {
                MiniportOffloadContext = new OffloadContextSlot(),
                NdisOffloadHandle = 0x30_0000 + (ulong)c.LocalPort,
                TcpConst = c.HostMachine.ExportConstState(),
                TcpCached = c.HostMachine.ExportCachedState(),
                TcpDelegated = c.HostMachine.ExportDelegatedState(Now),
            };
            path.AddDependent(c.Block);
        }
        return neighbor;
    }

    /// <summary>Offloads the connections as one tree and returns its root (asserts every block succeeded).</summary>
    public OffloadBlock Offload(Conn[] conns)
    {
        var root = BuildTree(conns);
        Assert.Equal(NdisStatus.Pending, Target.InitiateOffload(root));
        RunUntil(() => Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        foreach (var visit in OffloadTree.Traverse(root)) Assert.Equal(NdisStatus.Success, visit.Block.Status);
        return root;
    }

    /// <summary>One round: target, completions, peers, target again.</summary>
    public int Step()
    {
        int work = Target.Poll(Now);
        work += Queue.RunPending();
        Host.ReturnAccepted();
        work += PeerStep();
        work += Target.Poll(Now);
        work += Queue.RunPending();
        Host.ReturnAccepted();
        return work;
    }

    private int PeerStep()
    {
        int work = 0;
        int n;
        while ((n = PeerSide.Receive(_batch, 0)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                FramesFromTarget++;
                if (!TargetLab.TryTcpPayload(_batch[i].Span, out var tcp) || !TcpSegment.TryCreate(tcp, out var segment)) continue;
                ushort port = segment.SourcePort;
                FramesFromTargetPayloads.Add((port, segment.Payload.Length));
                var conn = Conns.Find(c => c.LocalPort == port);
                conn?.Peer.ProcessSegment(tcp, Now);
                work++;
            }
        }
        Span<byte> buffer = stackalloc byte[16384];
        foreach (var c in Conns)
        {
            int read;
            while ((read = c.Peer.Receive(buffer)) > 0)
            {
                c.PeerReceived.Write(buffer[..read]);
                work++;
            }
            work += c.Peer.Dispatch(Now, _writer);
        }
        return work;
    }

    /// <summary>Runs rounds, advancing the clock to the next timer when idle, until <paramref name="done"/> (or fails after
    /// <paramref name="timeout"/> of simulated time).</summary>
    public void RunUntil(Func<bool> done, TimeSpan timeout)
    {
        var end = Now + timeout;
        for (int rounds = 0; ; rounds++)
        {
            int work = Step();
            if (done()) return;
            if (Now >= end) Assert.Fail($"Condition not reached within {timeout.TotalMilliseconds} ms of simulated time.");
            if (work == 0) Advance(end);
            Assert.True(rounds < 1_000_000, "livelock");
        }
    }

    /// <summary>Runs for <paramref name="duration"/> of simulated time, then until nothing moves at that instant.</summary>
    public void RunFor(TimeSpan duration)
    {
        var end = Now + duration;
        while (Now < end)
            if (Step() == 0) Advance(end);
        while (Step() != 0) { }
    }

    private void Advance(Instant limit)
    {
        var next = Target.NextWake;
        foreach (var c in Conns) next = Instant.Min(next, c.Peer.PollAt());
        next = Instant.Min(next, limit);
        if (next <= Now) next = Now.AddMicroseconds(1000);
        Now = next;
    }

    /// <summary>An Ethernet + IPv4 + TCP header frame (no payload) between two addresses and ports.</summary>
    public static byte[] Frame(Ipv4Address source, Ipv4Address destination, ushort sourcePort, ushort destinationPort)
    {
        var tcp = new byte[20];
        tcp[0] = (byte)(sourcePort >> 8);
        tcp[1] = (byte)sourcePort;
        tcp[2] = (byte)(destinationPort >> 8);
        tcp[3] = (byte)destinationPort;
        tcp[12] = 5 << 4;
        var eth = new EthernetRepr(MacAddress.FromUInt64(0x02_00_00_00_00_0B), MacAddress.FromUInt64(0x02_00_00_00_00_0A), EtherType.Ipv4);
        var frame = new byte[eth.BufferLength + 20 + tcp.Length];
        eth.Emit(frame);
        new Ipv4Repr(source, destination, IpProtocol.Tcp, tcp.Length, 64, 1, dontFragment: true).Emit(frame.AsSpan(eth.BufferLength));
        tcp.CopyTo(frame.AsSpan(eth.BufferLength + 20));
        return frame;
    }

    private ushort _ipId = 1;

    private void SendFromPeer(ReadOnlySpan<byte> tcp)
    {
        var eth = new EthernetRepr(PeerSide.MacAddress, Nics[0].MacAddress, EtherType.Ipv4);
        var buffer = _pool.Rent();
        eth.Emit(buffer.Array);
        new Ipv4Repr(TargetLab.PeerIp, TargetLab.HostIp, IpProtocol.Tcp, tcp.Length, 64, _ipId++, dontFragment: true).Emit(buffer.Array.AsSpan(eth.BufferLength));
        tcp.CopyTo(buffer.Array.AsSpan(eth.BufferLength + 20));
        buffer.Length = eth.BufferLength + 20 + tcp.Length;
        FramesToTarget += PeerSide.Send([buffer]);
        _pool.Return(buffer);
    }

    public void Dispose()
    {
        Target?.Dispose();
        foreach (var n in Nics) n.Dispose();
        PeerSide?.Dispose();
    }

    private sealed class PeerWriter(MultiLab lab) : ITcpSegmentWriter
    {
        private readonly byte[] _buffer = new byte[65_536];

        public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, Math.Min(length, _buffer.Length));

        public void Commit(int length) => lab.SendFromPeer(_buffer.AsSpan(0, length));
    }

    private sealed class Collector : ITcpSegmentWriter
    {
        private readonly List<byte[]> _segments = [];
        private readonly byte[] _buffer = new byte[65_536];

        public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, length);

        public void Commit(int length) => _segments.Add(_buffer.AsSpan(0, length).ToArray());

        public List<byte[]> Take()
        {
            var list = new List<byte[]>(_segments);
            _segments.Clear();
            return list;
        }
    }
}
