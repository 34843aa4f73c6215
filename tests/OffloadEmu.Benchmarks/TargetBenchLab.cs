using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Link;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// An <see cref="OffloadTarget"/> in manual-poll mode on one end of a <see cref="MemoryLink"/>, a TCP machine as the
/// remote peer on the other, a host that only counts and recycles, one thread, a clock the caller advances. Setup may
/// allocate; <see cref="Step"/> does not (frames are pooled, the peer writes into one reused frame).
/// </summary>
internal sealed class TargetBenchLab : IOffloadHost, ITcpSegmentWriter, IDisposable
{
    internal static readonly Ipv4Address HostIp = new(198, 18, 0, 2);
    internal static readonly Ipv4Address PeerIp = new(198, 18, 0, 1);
    private const ushort LocalPort = 40000;
    private const ushort RemotePort = 7;
    private const int EthernetHeader = 14;
    private const int Ipv4Header = 20;

    private readonly FrameBuffer[] _batch = new FrameBuffer[64];
    private readonly FrameBuffer[] _single = new FrameBuffer[1];
    private readonly FramePool _pool = new(2048, 256);
    private readonly byte[] _readBuffer = new byte[64 * 1024];
    private ushort _peerIpId;

    internal TargetBenchLab(TcpConfig peerConfig, TcpConfig hostConfig)
    {
        MemoryLink.CreatePair(out var nic, out var peer, new MemoryLinkOptions { Capacity = 4096 });
        NicSide = nic;
        PeerSide = peer;
        Queue = CompletionQueue.CreateManual();
        Target = new OffloadTarget(nic, new OffloadTargetOptions(), Queue);
        Target.Bind(this);
        for (int i = 0; i < _batch.Length; i++) _batch[i] = _pool.Rent();
        _single[0] = _pool.Rent();
        Now = Instant.FromSeconds(1000);

        // The handshake happens between two machines directly (the host stack's job), then the host side is offloaded.
        var addresses = TcpEndpointAddresses.Ipv4(HostIp, PeerIp);
        Peer = TcpMachine.Listen(peerConfig, addresses.Reversed, RemotePort);
        HostMachine = TcpMachine.Connect(hostConfig, addresses, LocalPort, RemotePort, Now);
        var toPeer = new Collector();
        var toHost = new Collector();
        for (int i = 0; i < 8; i++)
        {
            HostMachine.Dispatch(Now, toPeer);
            foreach (var s in toPeer.Take()) Peer.ProcessSegment(s, Now);
            Peer.Dispatch(Now, toHost);
            foreach (var s in toHost.Take()) HostMachine.ProcessSegment(s, Now);
        }
        if (HostMachine.State != TcpState.Established || Peer.State != TcpState.Established)
            throw new InvalidOperationException("handshake failed");
        HostMachine.TakeEvents();
        Peer.TakeEvents();
    }

    internal MemoryLink NicSide { get; }
    internal MemoryLink PeerSide { get; }
    internal CompletionQueue Queue { get; }
    internal OffloadTarget Target { get; }
    internal TcpMachine Peer { get; }
    internal TcpMachine HostMachine { get; }
    internal Instant Now { get; set; }

    internal int Initiated;
    internal int Terminated;
    internal long SendsCompleted;
    internal long BytesAcknowledged;
    internal long PeerBytesRead;
    internal long ReceiveBytesCompleted;

    /// <summary>Receive posts the target completed, ready to be posted again.</summary>
    internal readonly Stack<NetBufferList> CompletedReceives = new(64);

    /// <summary>Send NBLs the target completed, ready to be sent again.</summary>
    internal readonly Stack<NetBufferList> CompletedSends = new(64);

    /// <summary>Neighbour → path → TCP blocks for the host machine's connection (new offloads, fresh slots).</summary>
    internal OffloadBlock BuildTree(out OffloadBlock tcp)
    {
        var neighbor = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = 1,
            NeighborConst = new NeighborConstState(),
            NeighborCached = new NeighborCachedState { DlDestinationAddress = PeerSide.MacAddress },
            NeighborDelegated = new NeighborDelegatedState(),
        };
        var path = new OffloadBlock(OffloadBlockType.Ip4OffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = 2,
            PathConst = new PathConstState { SourceAddress = HostIp, DestinationAddress = PeerIp },
            PathCached = new PathCachedState { PathMtu = 1500 },
            PathDelegated = new PathDelegatedState(),
        };
        tcp = new OffloadBlock(OffloadBlockType.TcpOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = 3,
            TcpConst = HostMachine.ExportConstState(),
            TcpCached = HostMachine.ExportCachedState(),
            TcpDelegated = HostMachine.ExportDelegatedState(Now),
        };
        neighbor.AddDependent(path);
        path.AddDependent(tcp);
        return neighbor;
    }

    /// <summary>Offloads the host machine's connection and returns the TCP context.</summary>
    internal ulong Offload()
    {
        var root = BuildTree(out var tcp);
        Target.InitiateOffload(root);
        int before = Initiated;
        while (Initiated == before) Step();
        if (tcp.Status != NdisStatus.Success) throw new InvalidOperationException($"initiate failed: {tcp.Status}");
        return tcp.MiniportOffloadContext!.Context;
    }

    /// <summary>One round: the target, its completions, the peer (reads everything, answers at once).</summary>
    internal int Step()
    {
        int work = Target.Poll(Now);
        work += Queue.RunPending();
        return work + StepPeer();
    }

    /// <summary>The peer's part of <see cref="Step"/>: frames from the target processed, data read, its segments sent.</summary>
    internal int StepPeer()
    {
        int work = 0;
        int n;
        while ((n = PeerSide.Receive(_batch, 0)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                var span = _batch[i].Span;
                if (span.Length < EthernetHeader + Ipv4Header || span[12] != 0x08 || span[13] != 0x00) continue;
                int ihl = (span[EthernetHeader] & 0xF) * 4;
                int total = (span[EthernetHeader + 2] << 8) | span[EthernetHeader + 3];
                Peer.ProcessSegment(span.Slice(EthernetHeader + ihl, total - ihl), Now);
            }
            work += n;
        }
        int read;
        while ((read = Peer.Receive(_readBuffer)) > 0) PeerBytesRead += read;
        work += Peer.Dispatch(Now, this);
        return work;
    }

    Span<byte> ITcpSegmentWriter.GetBuffer(int length) => _single[0].Array.AsSpan(EthernetHeader + Ipv4Header, length);

    void ITcpSegmentWriter.Commit(int length)
    {
        var frame = _single[0];
        new EthernetRepr(PeerSide.MacAddress, NicSide.MacAddress, EtherType.Ipv4).Emit(frame.Array);
        new Ipv4Repr(PeerIp, HostIp, IpProtocol.Tcp, length, 64, _peerIpId++, dontFragment: true).Emit(frame.Array.AsSpan(EthernetHeader));
        frame.Length = EthernetHeader + Ipv4Header + length;
        PeerSide.Send(_single);
    }

    // ---- IOffloadHost: count and recycle -------------------------------------------------------------------------------

    public void InitiateOffloadComplete(OffloadBlock root) => Initiated++;
    public void TerminateOffloadComplete(OffloadBlock root) => Terminated++;
    public void UpdateOffloadComplete(OffloadBlock root) { }
    public void InvalidateOffloadComplete(OffloadBlock root) { }
    public void QueryOffloadStateComplete(OffloadBlock root) { }

    public void TcpOffloadSendComplete(NetBufferList chain)
    {
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            nbl.Next = null;
            SendsCompleted++;
            BytesAcknowledged += nbl.TcpOffloadBytesTransferred;
            CompletedSends.Push(nbl);
            nbl = next;
        }
    }

    public void TcpOffloadReceiveComplete(NetBufferList chain)
    {
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            nbl.Next = null;
            ReceiveBytesCompleted += nbl.TcpOffloadBytesTransferred;
            CompletedReceives.Push(nbl);
            nbl = next;
        }
    }
    public void TcpOffloadDisconnectComplete(NetBufferList nbl) { }
    public void TcpOffloadForwardComplete(NetBufferList chain) { }

    /// <summary>Take every receive indication (copied into <see cref="_scratch"/>, the NBL returned at once) instead of
    /// refusing it.</summary>
    internal bool AcceptIndications;

    internal long IndicatedBytes;

    internal long Indications;

    private readonly byte[] _scratch = new byte[1 << 20];

    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        if (!AcceptIndications)
        {
            bytesConsumed = 0;
            return NdisStatus.OffloadDataNotAccepted;
        }
        int length = (int)nbl.DataLength;
        nbl.CopyTo(0, _scratch.AsSpan(0, Math.Min(length, _scratch.Length)));
        IndicatedBytes += length;
        Indications++;
        bytesConsumed = length;
        Target.TcpOffloadReceiveReturn(nbl);
        return NdisStatus.Success;
    }

    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info) { }
    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code) { }
    public void IndicateStatus(NdisStatus adapterStatus) { }
    public void ReceiveFrame(ReadOnlySpan<byte> frame) { }

    public void Dispose()
    {
        Target.Dispose();
        NicSide.Dispose();
        PeerSide.Dispose();
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
