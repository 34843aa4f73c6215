using System.Diagnostics;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Server;
using OffloadEmu.Link;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;

namespace OffloadEmu.Control.Tests;

/// <summary>
/// A live lab in real time (the parts of tests/OffloadEmu.Target.Tests/TargetLab.cs the control tests need): the real
/// offload target running its own threads on one end of a <see cref="MemoryLink"/>, TCP machines playing remote peers
/// on the other end driven by a thread, and a <see cref="ControlServer"/> on a Unix socket in a temp directory.
/// </summary>
internal sealed class LiveLab : IAsyncDisposable
{
    public static readonly Ipv4Address HostIp = new(198, 18, 0, 2);
    public static readonly Ipv4Address PeerIp = new(198, 18, 0, 1);
    public const ushort RemotePort = 7;

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Thread _peerThread;
    private readonly FramePool _pool = new();
    private readonly List<Peer> _peers = [];
    private readonly Lock _lock = new();
    private volatile bool _stop;
    private ushort _peerIpId = 1;

    /// <param name="serverOptions">The server's settings (the socket path is the lab's).</param>
    /// <param name="engineWrites">The server writes small I/O completions and indications from the target's engine thread
    /// (<see cref="ControlServerOptions.EngineCompletions"/>, as the daemon does); <see cref="CompletionErrors"/> collects
    /// handler exceptions of the target's completion queue then.</param>
    public LiveLab(ControlServerOptions? serverOptions = null, bool engineWrites = false)
    {
        Directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "oe-ctl-" + Guid.NewGuid().ToString("N")[..12]);
        SocketPath = System.IO.Path.Combine(Directory, "run", "control.sock");
        MemoryLink.CreatePair(out var nic, out var peer);
        NicSide = nic;
        PeerSide = peer;
        Target = engineWrites ? new OffloadTarget(nic, completions: new CompletionQueue(CompletionErrors.Enqueue)) : new OffloadTarget(nic);
        var options = (serverOptions ?? new ControlServerOptions()) with { Path = SocketPath };
        if (engineWrites) options = options with { EngineCompletions = Target.Completions };
        Server = new ControlServer(Target, options);
        Server.Start();
        Target.Start();
        _peerThread = new Thread(PeerLoop) { IsBackground = true, Name = "lab peer" };
        _peerThread.Start();
    }

    public string Directory { get; }
    public string SocketPath { get; }
    public MemoryLink NicSide { get; }
    public MemoryLink PeerSide { get; }
    public OffloadTarget Target { get; }
    public ControlServer Server { get; }

    public Instant Now => Instant.FromMicroseconds(_clock.ElapsedTicks * 1_000_000 / Stopwatch.Frequency + 1_000_000_000);

    public System.Collections.Concurrent.ConcurrentQueue<Exception> CompletionErrors { get; } = new();

    public RemoteOffloadTarget Connect(TestHost host, string name = "test", bool inlineCallbacks = false)
    {
        var client = RemoteOffloadTarget.Connect(SocketPath, new RemoteOffloadTargetOptions { ClientName = name, InlineHostCallbacks = inlineCallbacks });
        host.Target = client;
        client.Bind(host);
        return client;
    }

    /// <summary>A remote peer on its own port, and the host-side machine (handshake done in memory, as the host stack
    /// would before offloading).</summary>
    public sealed class Peer
    {
        public required TcpMachine Machine { get; init; }
        public required ushort LocalPort { get; init; }
        public MemoryStream Received { get; } = new();

        /// <summary>When false the peer's application stops reading (its window fills).</summary>
        public bool Reads { get; set; } = true;
    }

    /// <summary>Bytes the peer application has queued and the peer has not had ACKed.</summary>
    public long PeerSendQueue(Peer peer)
    {
        lock (_lock) return peer.Machine.SendQueueBytes;
    }

    public TcpState PeerState(Peer peer)
    {
        lock (_lock) return peer.Machine.State;
    }

    public (SeqNumber SndNxt, SeqNumber RcvNxt) PeerSequence(Peer peer)
    {
        lock (_lock) return (peer.Machine.SndNxt, peer.Machine.RcvNxt);
    }

    public void SetPeerReads(Peer peer, bool reads)
    {
        lock (_lock) peer.Reads = reads;
    }

    public (Peer Peer, TcpMachine Host) Establish(ushort localPort, int hostReceiveBuffer = 64 * 1024, int peerReceiveBuffer = 256 * 1024)
    {
        var now = Now;
        var addresses = TcpEndpointAddresses.Ipv4(HostIp, PeerIp);
        var peerMachine = TcpMachine.Listen(TcpConfig.Default with { ReceiveBufferSize = peerReceiveBuffer, Sack = true }, addresses.Reversed, RemotePort);
        var host = TcpMachine.Connect(TcpConfig.Default with { ReceiveBufferSize = hostReceiveBuffer, Sack = true }, addresses, localPort, RemotePort, now);
        var a = new Collector();
        var b = new Collector();
        for (int i = 0; i < 10; i++)
        {
            host.Dispatch(now, a);
            foreach (var s in a.Take()) peerMachine.ProcessSegment(s, now);
            peerMachine.Dispatch(now, b);
            foreach (var s in b.Take()) host.ProcessSegment(s, now);
        }
        Assert.Equal(TcpState.Established, host.State);
        host.TakeEvents();
        peerMachine.TakeEvents();
        var peer = new Peer { Machine = peerMachine, LocalPort = localPort };
        lock (_lock) _peers.Add(peer);
        return (peer, host);
    }

    /// <summary>Neighbour → path → TCP, all new offloads, with the given handles.</summary>
    public OffloadBlock BuildTree(TcpMachine host, ulong handleBase, out OffloadBlock tcpBlock)
    {
        var neighbor = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(), NdisOffloadHandle = handleBase + 1,
            NeighborConst = new NeighborConstState(),
            NeighborCached = new NeighborCachedState { DlDestinationAddress = PeerSide.MacAddress },
            NeighborDelegated = new NeighborDelegatedState(),
        };
        var path = new OffloadBlock(OffloadBlockType.Ip4OffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(), NdisOffloadHandle = handleBase + 2,
            PathConst = new PathConstState { SourceAddress = HostIp, DestinationAddress = PeerIp },
            PathCached = new PathCachedState { PathMtu = 1500 }, PathDelegated = new PathDelegatedState(),
        };
        tcpBlock = new OffloadBlock(OffloadBlockType.TcpOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(), NdisOffloadHandle = handleBase + 3,
            TcpConst = host.ExportConstState(), TcpCached = host.ExportCachedState(), TcpDelegated = host.ExportDelegatedState(Now),
        };
        neighbor.AddDependent(path);
        path.AddDependent(tcpBlock);
        return neighbor;
    }

    /// <summary>Queues bytes for the peer to send.</summary>
    /// <summary>Frames from the target that are not IPv4 (ARP and the like), in order.</summary>
    public List<byte[]> OtherFrames { get; } = [];

    public int OtherFrameCount
    {
        get
        {
            lock (_lock) return OtherFrames.Count;
        }
    }

    /// <summary>Puts a raw frame on the wire towards the target.</summary>
    public void InjectFrame(byte[] frame)
    {
        var buffer = _pool.Rent();
        frame.CopyTo(buffer.Array, 0);
        buffer.Length = frame.Length;
        PeerSide.Send([buffer]);
        _pool.Return(buffer);
    }

    public void PeerSend(Peer peer, byte[] data)
    {
        lock (_lock) Assert.True(peer.Machine.Enqueue(new MemorySendBuffer(data)));
    }

    public long PeerReceivedLength(Peer peer)
    {
        lock (_lock) return peer.Received.Length;
    }

    public byte[] PeerReceivedBytes(Peer peer)
    {
        lock (_lock) return peer.Received.ToArray();
    }

    private void PeerLoop()
    {
        var batch = new FrameBuffer[64];
        for (int i = 0; i < batch.Length; i++) batch[i] = _pool.Rent();
        var writer = new PeerWriter(this);
        var buffer = new byte[65536];
        while (!_stop)
        {
            int n;
            try
            {
                n = PeerSide.Receive(batch, 2);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            lock (_lock)
            {
                var now = Now;
                for (int i = 0; i < n; i++)
                {
                    if (!EthernetFrame.TryCreate(batch[i].Span, out var eth) || eth.EtherType != EtherType.Ipv4)
                    {
                        OtherFrames.Add(batch[i].Span.ToArray());
                        continue;
                    }
                    if (!Ipv4Packet.TryCreate(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp) continue;
                    if (!TcpSegment.TryCreate(ip.Payload, out var seg)) continue;
                    foreach (var p in _peers)
                    {
                        if (seg.SourcePort != p.LocalPort) continue;
                        p.Machine.ProcessSegment(ip.Payload, now);
                    }
                }
                foreach (var p in _peers)
                {
                    int read;
                    while (p.Reads && (read = p.Machine.Receive(buffer)) > 0) p.Received.Write(buffer, 0, read);
                    p.Machine.Dispatch(now, writer);
                }
            }
        }
    }

    private void Inject(ReadOnlySpan<byte> tcp)
    {
        var eth = new EthernetRepr(PeerSide.MacAddress, NicSide.MacAddress, EtherType.Ipv4);
        var frame = _pool.Rent();
        eth.Emit(frame.Array);
        new Ipv4Repr(PeerIp, HostIp, IpProtocol.Tcp, tcp.Length, 64, _peerIpId++, dontFragment: true).Emit(frame.Array.AsSpan(eth.BufferLength));
        tcp.CopyTo(frame.Array.AsSpan(eth.BufferLength + 20));
        frame.Length = eth.BufferLength + 20 + tcp.Length;
        PeerSide.Send([frame]);
        _pool.Return(frame);
    }

    public async ValueTask DisposeAsync()
    {
        _stop = true;
        await Server.DisposeAsync();
        Target.Dispose();
        _peerThread.Join(2000);
        NicSide.Dispose();
        PeerSide.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class PeerWriter(LiveLab lab) : ITcpSegmentWriter
    {
        private readonly byte[] _buffer = new byte[65_536];

        public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, Math.Min(length, _buffer.Length));

        public void Commit(int length) => lab.Inject(_buffer.AsSpan(0, length));
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
