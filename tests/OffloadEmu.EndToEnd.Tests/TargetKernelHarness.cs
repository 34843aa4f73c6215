using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Target;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// A minimal host for one connection over an <see cref="OffloadTarget"/> (test code, not a product host stack). It does
/// the host's part of the chimney model: ARP (answers and resolves through <see cref="IOffloadTarget.SendFrame"/> and
/// <see cref="IOffloadHost.ReceiveFrame"/>; the target answers no ARP itself), the handshake and the first bytes in a
/// host-side <see cref="TcpMachine"/>, then initiate offload mid-transfer (unacknowledged send data handed over in the
/// TCP block's chain, segments that came up while offloading forwarded), bulk data through TcpOffloadSend and receive
/// posts / indications, terminate offload mid-transfer, the returned state imported into a new host-side machine that
/// carries on, and a graceful close.
/// </summary>
/// <remarks>
/// Threads: the target runs its own engine and device-reader threads; its completions and indications arrive on the
/// completion queue's worker, where this host only records them (an indication is accepted whole and its NBL queued) and
/// signals the test thread. Everything else, hashing included, happens on the test thread in the order the target
/// delivered it, so the received byte stream is hashed in stream order across all three phases.
/// </remarks>
internal sealed class TargetKernelHarness : IOffloadHost, ITcpSegmentWriter, ITcpSendCompletionSink
{
    private const int EthernetHeader = 14;
    private const int Ipv4Header = 20;
    private const int ChunkSize = 64 * 1024;
    private const int MaxOutstandingChunks = 32;   // at most 2 MiB of send data outstanding (host machine or target)
    private const int PostSize = 128 * 1024;
    private const int PostCount = 2;

    private readonly OffloadTarget _target;
    private readonly MacAddress _ourMac;
    private readonly Ipv4Address _ourIp;
    private readonly Ipv4Address _peerIp;
    private readonly ushort _localPort;
    private readonly ushort _remotePort;
    private readonly TcpConfig _config;
    private readonly ConcurrentQueue<Item> _items = new();
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
    private readonly long _epoch = Stopwatch.GetTimestamp();
    private readonly PseudoRandomPattern _pattern = new(0x7A26_E70F_F10AUL);
    private readonly PseudoRandomPattern _expected = new(0x7A26_E70F_F10AUL);
    private byte[] _compare = new byte[256 * 1024];
    private readonly IncrementalHash _sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IncrementalHash _receivedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] _tx = new byte[65_536 + 64];
    private readonly byte[] _rx = new byte[256 * 1024];
    private byte[] _scratch = new byte[256 * 1024];
    private readonly Stack<byte[]> _postBuffers = new();
    private readonly List<byte[]> _heldSegments = [];
    private readonly StringBuilder _log = new();
    private MacAddress _peerMac;
    private bool _peerMacKnown;
    private ushort _ipId;
    private TcpMachine? _machine;
    private Phase _phase = Phase.Resolving;
    private OffloadBlock? _root;
    private OffloadContextSlot? _neighborSlot, _pathSlot, _tcpSlot;
    private TcpConstState _tcpConst;
    private TcpCachedState _tcpCached;
    private ulong _context;
    private int _outstandingChunks;
    private int _postsOutstanding;
    private long _generated;
    private long _generateLimit;
    private bool _closeCalled;
    private bool _peerFin;
    private string? _failure;
    private bool _queryOutstanding;
    private long _lastQuery;

    internal TargetKernelHarness(OffloadTarget target, Ipv4Address ourIp, Ipv4Address peerIp, ushort localPort, ushort remotePort, TcpConfig config)
    {
        _target = target;
        _ourMac = target.MacAddress;
        _ourIp = ourIp;
        _peerIp = peerIp;
        _localPort = localPort;
        _remotePort = remotePort;
        _config = config;
    }

    private enum Phase { Resolving, Host, Offloading, Offloaded, Uploading, HostAfterUpload, Done }

    private enum Kind { Frame, Initiated, Terminated, Queried, SendDone, ReceiveDone, Indicated, ForwardDone, DisconnectDone, Event, Status }

    private readonly record struct Item(Kind Kind, object? Payload = null, byte[]? Frame = null, TcpOffloadEventType Event = default, uint Info = 0);

    // ---- figures --------------------------------------------------------------------------------------------------------

    internal long BytesReceived { get; private set; }
    internal string? FirstMismatch { get; private set; }
    internal long BytesAcknowledged { get; private set; }
    internal long ReceivedBeforeOffload { get; private set; }
    internal long ReceivedViaTarget { get; private set; }
    internal long AcknowledgedViaTarget { get; private set; }
    internal long SendDataHandedOverAtInitiate { get; private set; }
    internal long SendDataReturnedAtTerminate { get; private set; }
    internal long BufferedDataReturnedAtTerminate { get; private set; }
    internal int SegmentsForwarded { get; private set; }
    internal int SendBacklogEvents { get; private set; }
    internal uint SendBacklog { get; private set; }
    internal int SegmentsHeldDuringUpload { get; private set; }
    internal int PostsCompleted { get; private set; }
    internal int Indications { get; private set; }
    internal int ArpRepliesSent { get; private set; }
    internal int FramesRefused { get; private set; }
    /// <summary>Segments of the connection that came up the non-offload path (host phases, held during hand-overs).</summary>
    internal int ConnectionSegmentsUp { get; private set; }
    internal TimeSpan OffloadedFor { get; private set; }
    internal TcpMachine? Machine => _machine;

    /// <summary>Wall-clock spans (Unix seconds, the capture's clock) from the start of each hand-over (state exported /
    /// terminate requested) until the host had done its part (segments forwarded and posts made / state imported and
    /// held segments processed).</summary>
    internal List<(double Start, double End)> HandOvers { get; } = [];

    private double _handOverStart;

    private static double UnixSeconds() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
    internal string Log => _log.ToString();

    /// <summary>How often to query the offloaded connection's state (spec §6.7) while it is offloaded; zero: never.</summary>
    internal TimeSpan QueryInterval { get; init; }

    /// <summary>The delegated state read by each completed query, in order (<see cref="QueryInterval"/>).</summary>
    internal List<QuerySample> Queries { get; } = [];

    /// <summary>One query's reading: when (seconds since the harness started) and the TCP delegated state.</summary>
    internal readonly record struct QuerySample(double At, uint SRtt, uint RttVar, uint CWnd, uint SsThresh, uint Flight, uint SndWnd);

    /// <summary>SHA-256 of everything sent so far.</summary>
    internal byte[] SentHash() => _sentHash.GetCurrentHash();

    /// <summary>SHA-256 of everything received so far.</summary>
    internal byte[] ReceivedHash() => _receivedHash.GetCurrentHash();

    private Instant Now => Instant.FromMicroseconds(1_000_000 + (long)Stopwatch.GetElapsedTime(_epoch).TotalMicroseconds);

    private void Note(string line)
    {
        lock (_log) _log.AppendLine($"{Stopwatch.GetElapsedTime(_epoch).TotalMilliseconds,8:F1} ms {line} [pool {ThreadPool.ThreadCount} threads, {ThreadPool.PendingWorkItemCount} pending]");
    }

    /// <summary>
    /// Runs the whole scenario: <paramref name="beforeOffload"/> bytes sent by the host machine (offload once a quarter of
    /// it came back), then at least <paramref name="viaTarget"/> bytes each way through the target, terminate, then
    /// <paramref name="afterUpload"/> more bytes through the imported machine, close. False with a reason on failure.
    /// </summary>
    internal bool Run(long beforeOffload, long viaTarget, long afterUpload, TimeSpan timeout, out string failure)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        long lastArp = 0;
        var offloadedAt = 0L;
        _generateLimit = beforeOffload;
        while (_failure is null)
        {
            var now = Now;
            DrainItems(now);
            if (_failure is not null) break;
            if (Stopwatch.GetTimestamp() > deadline)
            {
                _failure = $"timed out after {timeout.TotalSeconds:F0} s in phase {_phase}: generated {_generated}, acknowledged {BytesAcknowledged}, " +
                           $"received {BytesReceived}, via target {ReceivedViaTarget} in / {AcknowledgedViaTarget} acked, machine {_machine?.State}";
                break;
            }

            switch (_phase)
            {
                case Phase.Resolving:
                    if (_peerMacKnown)
                    {
                        _machine = TcpMachine.Connect(_config, TcpEndpointAddresses.Ipv4(_ourIp, _peerIp), _localPort, _remotePort, now);
                        _machine.SendCompletionSink = this;
                        _phase = Phase.Host;
                        Note($"peer MAC {_peerMac}; connecting");
                    }
                    else if (lastArp == 0 || Stopwatch.GetElapsedTime(lastArp) > TimeSpan.FromMilliseconds(200))
                    {
                        lastArp = Stopwatch.GetTimestamp();
                        int n = TestFrames.ArpRequest(_tx, _ourMac, _ourIp, _peerIp);
                        SendFrame(_tx.AsSpan(0, n));
                    }
                    break;
                case Phase.Host:
                    if (_machine!.State == TcpState.Established) Refill();
                    if (_machine.State == TcpState.Established && _generated >= _generateLimit && BytesReceived >= beforeOffload / 4)
                    {
                        StartOffload(now);
                        offloadedAt = Stopwatch.GetTimestamp();
                    }
                    break;
                case Phase.Offloaded:
                    RefillTarget();
                    MaybeQuery();
                    if (AcknowledgedViaTarget >= viaTarget && ReceivedViaTarget >= viaTarget)
                    {
                        OffloadedFor = Stopwatch.GetElapsedTime(offloadedAt);
                        StartTerminate();
                    }
                    break;
                case Phase.HostAfterUpload:
                    var m = _machine!;
                    if (_generateLimit == 0) _generateLimit = _generated + afterUpload;
                    if (m.State is TcpState.Established) Refill();
                    if (!_closeCalled && _generated >= _generateLimit && BytesReceived == _generated && _outstandingChunks == 0)
                    {
                        m.Close();
                        _closeCalled = true;
                        Note($"closing after {_generated} bytes each way");
                    }
                    break;
            }

            if (_machine is { } machine && _phase is Phase.Host or Phase.HostAfterUpload)
            {
                machine.Dispatch(now, this);
                ReadMachine(machine);
                var events = machine.TakeEvents();
                if ((events & (TcpEvents.Reset | TcpEvents.RetransmitTimeout | TcpEvents.PersistTimeout | TcpEvents.FinWait2Timeout)) != 0)
                {
                    _failure = $"host machine failed with events {events} in state {machine.State}";
                    break;
                }
                if ((events & TcpEvents.PeerClosed) != 0)
                {
                    Note("peer FIN");
                    _peerFin = true;
                    if (!_closeCalled) { _failure = $"the peer closed first (received {BytesReceived} of {_generated})"; break; }
                }
                if (_closeCalled && _peerFin && machine.State is TcpState.TimeWait or TcpState.Closed)
                {
                    _phase = Phase.Done;
                    Note($"done: {machine.State}");
                    break;
                }
                long waitUs = machine.PollAt().Microseconds - Now.Microseconds;
                _signal.Wait((int)Math.Clamp(waitUs / 1000, 0, 10));
            }
            else
            {
                _signal.Wait(10);
            }
        }
        if (_failure is null) Linger(TimeSpan.FromMilliseconds(250));
        failure = _failure ?? "";
        return _failure is null;
    }

    /// <summary>After the close: keeps answering for a while (a retransmitted FIN gets its ACK again) and gives the
    /// engine time to put the last host frames on the wire (SendFrame only queues them).</summary>
    private void Linger(TimeSpan duration)
    {
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        while (_failure is null && Stopwatch.GetTimestamp() < end)
        {
            var now = Now;
            DrainItems(now);
            _machine!.Dispatch(now, this);
            _signal.Wait(5);
        }
    }

    // ---- the host machine ----------------------------------------------------------------------------------------------

    private NetBufferList NextChunk()
    {
        var chunk = new byte[ChunkSize];
        _pattern.Fill(chunk);
        _sentHash.AppendData(chunk);
        _generated += chunk.Length;
        _outstandingChunks++;
        var nbl = new NetBufferList(1, 1);
        nbl.AddBuffer().AddSegment(chunk);
        return nbl;
    }

    private void Refill()
    {
        while (_outstandingChunks < MaxOutstandingChunks && _generated < _generateLimit)
        {
            if (!_machine!.Enqueue(new NetBufferListSendBuffer(NextChunk())))
                throw new InvalidOperationException($"Enqueue refused in state {_machine.State}");
        }
    }

    private void ReadMachine(TcpMachine machine)
    {
        int n;
        while ((n = machine.Receive(_rx)) > 0) Received(_rx.AsSpan(0, n), "host machine");
    }

    private void Received(ReadOnlySpan<byte> data, string source)
    {
        _receivedHash.AppendData(data);
        if (FirstMismatch is null)
        {
            // Compare with the stream as generated, to say where a difference starts (the hashes only say that it exists).
            var expected = _compare.Length >= data.Length ? _compare.AsSpan(0, data.Length) : (_compare = new byte[data.Length]);
            _expected.Fill(expected);
            for (int i = 0; i < data.Length; i++)
            {
                if (data[i] == expected[i]) continue;
                FirstMismatch = $"received byte {BytesReceived + i} differs (from {source} in phase {_phase}, {data.Length}-byte delivery starting at {BytesReceived})";
                Note(FirstMismatch);
                break;
            }
        }
        BytesReceived += data.Length;
    }

    void ITcpSendCompletionSink.OnSendCompleted(ITcpSendBuffer buffer, int byteCount)
    {
        BytesAcknowledged += byteCount;
        _outstandingChunks--;
    }

    Span<byte> ITcpSegmentWriter.GetBuffer(int length) => _tx.AsSpan(EthernetHeader + Ipv4Header, length);

    void ITcpSegmentWriter.Commit(int length)
    {
        // The host owns the low half of the IPv4 ID space (spec §5: the target's IDs are 0x8000-0xFFFF).
        new EthernetRepr(_ourMac, _peerMac, EtherType.Ipv4).Emit(_tx);
        new Ipv4Repr(_ourIp, _peerIp, IpProtocol.Tcp, length, timeToLive: 64, identification: (ushort)(_ipId++ & 0x7FFF), dontFragment: true)
            .Emit(_tx.AsSpan(EthernetHeader));
        SendFrame(_tx.AsSpan(0, EthernetHeader + Ipv4Header + length));
    }

    private void SendFrame(ReadOnlySpan<byte> frame)
    {
        // A full host-frame ring is a drop on the wire; the machine's retransmission recovers it.
        if (_target.SendFrame(frame) != NdisStatus.Success) FramesRefused++;
    }

    // ---- offload ---------------------------------------------------------------------------------------------------------

    private void StartOffload(Instant now)
    {
        var m = _machine!;
        ReadMachine(m);   // nothing left in the machine's receive buffer: BufferedData stays empty
        ReceivedBeforeOffload = BytesReceived;
        _tcpConst = m.ExportConstState();
        _tcpCached = m.ExportCachedState();
        var delegated = m.ExportDelegatedState(now);

        // Unacknowledged and unsent data (spec §5 "outstanding data at initiate"): the host machine's own NBLs, the first
        // advanced past its acknowledged bytes so its current data start is SndUna.
        var buffers = new List<ITcpSendBuffer>();
        int headAcked = m.CopySendBuffers(buffers);
        NetBufferList? head = null, tail = null;
        foreach (var b in buffers)
        {
            var nbl = ((NetBufferListSendBuffer)b).List;
            nbl.Next = null;
            if (head is null && headAcked > 0) nbl[0].Advance(headAcked);
            SendDataHandedOverAtInitiate += nbl.DataLength;
            NetBufferListChain.Append(ref head, ref tail, nbl);
        }
        delegated.SendDataHead = head;
        delegated.SendDataTail = tail;

        _neighborSlot = new OffloadContextSlot();
        _pathSlot = new OffloadContextSlot();
        _tcpSlot = new OffloadContextSlot();
        _root = BuildTree(withState: true);
        var tcp = _root.DependentBlockList!.DependentBlockList!;
        tcp.TcpDelegated = delegated;
        tcp.NetBufferListChain = head;
        Note($"initiate: SndUna {delegated.SndUna} SndNxt {delegated.SndNxt} SndMax {delegated.SndMax} RcvNxt {delegated.RcvNxt}, " +
             $"{buffers.Count} send NBLs ({SendDataHandedOverAtInitiate} bytes, head acked {headAcked}), received so far {BytesReceived}");
        _machine = null;   // from here the connection's segments that come up are held and forwarded after the initiate
        _phase = Phase.Offloading;
        _handOverStart = UnixSeconds();
        var status = _target.InitiateOffload(_root);
        if (status != NdisStatus.Pending) _failure = $"InitiateOffload returned {status}";
    }

    private OffloadBlock BuildTree(bool withState)
    {
        var neighbor = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = _neighborSlot, NdisOffloadHandle = 0x101 };
        var path = new OffloadBlock(OffloadBlockType.Ip4OffloadState) { MiniportOffloadContext = _pathSlot, NdisOffloadHandle = 0x102 };
        var tcp = new OffloadBlock(OffloadBlockType.TcpOffloadState) { MiniportOffloadContext = _tcpSlot, NdisOffloadHandle = 0x103 };
        if (withState)
        {
            neighbor.NeighborConst = new NeighborConstState();
            neighbor.NeighborCached = new NeighborCachedState { DlDestinationAddress = _peerMac, HostReachabilityDelta = 0 };
            neighbor.NeighborDelegated = new NeighborDelegatedState();
            path.PathConst = new PathConstState { SourceAddress = _ourIp, DestinationAddress = _peerIp };
            path.PathCached = new PathCachedState { PathMtu = (uint)_target.Mtu };
            path.PathDelegated = new PathDelegatedState();
            tcp.TcpConst = _tcpConst;
            tcp.TcpCached = _tcpCached;
        }
        neighbor.AddDependent(path);
        path.AddDependent(tcp);
        return neighbor;
    }

    private void OnInitiated(OffloadBlock root)
    {
        foreach (var visit in OffloadTree.Traverse(root))
        {
            if (visit.Block.Status != NdisStatus.Success)
            {
                _failure = "initiate failed: " + string.Join("; ", OffloadTree.Traverse(root).Select(v => v.Block.ToString()));
                return;
            }
        }
        _context = _tcpSlot!.Context;
        // Spec §4: segments that arrived while the connection was being offloaded, which the host did not ACK, go to the
        // target now (TCP header first, one segment per NBL).
        NetBufferList? head = null, tail = null;
        foreach (var segment in _heldSegments)
        {
            var nbl = new NetBufferList(1, 1);
            nbl.AddBuffer().AddSegment(segment);
            NetBufferListChain.Append(ref head, ref tail, nbl);
            SegmentsForwarded++;
        }
        _heldSegments.Clear();
        if (head is not null && _target.TcpOffloadForward(_context, head) != NdisStatus.Pending) _failure = "TcpOffloadForward did not pend";
        for (int i = 0; i < PostCount; i++) Post();
        _phase = Phase.Offloaded;
        HandOvers.Add((_handOverStart, UnixSeconds()));
        Note($"offloaded: context 0x{_context:x}, {SegmentsForwarded} segments forwarded");
    }

    private void Post()
    {
        var nbl = new NetBufferList(1, 1);
        nbl.AddBuffer().AddWritableSegment(_postBuffers.TryPop(out var buffer) ? buffer : new byte[PostSize]);
        _postsOutstanding++;
        if (_target.TcpOffloadReceive(_context, nbl) != NdisStatus.Pending) _failure = "TcpOffloadReceive did not pend";
    }

    private void RefillTarget()
    {
        NetBufferList? head = null, tail = null;
        while (_outstandingChunks < MaxOutstandingChunks) NetBufferListChain.Append(ref head, ref tail, NextChunk());
        if (head is not null && _target.TcpOffloadSend(_context, head) != NdisStatus.Pending) _failure = "TcpOffloadSend did not pend";
    }

    private void MaybeQuery()
    {
        if (QueryInterval <= TimeSpan.Zero || _queryOutstanding) return;
        if (_lastQuery != 0 && Stopwatch.GetElapsedTime(_lastQuery) < QueryInterval) return;
        _lastQuery = Stopwatch.GetTimestamp();
        _queryOutstanding = true;
        var status = _target.QueryOffloadState(BuildTree(withState: false));
        if (status != NdisStatus.Pending) _failure = $"QueryOffloadState returned {status}";
    }

    private void OnQueried(OffloadBlock root)
    {
        _queryOutstanding = false;
        var tcp = root.DependentBlockList!.DependentBlockList!;
        if (tcp.Status != NdisStatus.Success || tcp.TcpDelegated is not { } d)
        {
            // A query racing the terminate may find the connection gone; anything else is a failure.
            if (_phase == Phase.Offloaded) _failure = $"query completed {tcp.Status}";
            return;
        }
        Queries.Add(new QuerySample(Stopwatch.GetElapsedTime(_epoch).TotalSeconds, d.SRtt, d.RttVar, d.CWnd, d.SsThresh,
            (uint)(d.SndMax - d.SndUna), d.SndWnd));
    }

    // ---- terminate -------------------------------------------------------------------------------------------------------

    private void StartTerminate()
    {
        Note($"terminate: via target {ReceivedViaTarget} received, {AcknowledgedViaTarget} acknowledged; {_outstandingChunks} sends outstanding");
        _phase = Phase.Uploading;
        _handOverStart = UnixSeconds();
        var status = _target.TerminateOffload(BuildTree(withState: false));
        if (status != NdisStatus.Pending) _failure = $"TerminateOffload returned {status}";
    }

    private void OnTerminated(OffloadBlock root, Instant now)
    {
        foreach (var visit in OffloadTree.Traverse(root))
        {
            if (visit.Block.Status != NdisStatus.Success)
            {
                _failure = "terminate failed: " + string.Join("; ", OffloadTree.Traverse(root).Select(v => v.Block.ToString()));
                return;
            }
        }
        var tcp = root.DependentBlockList!.DependentBlockList!;
        var d = tcp.TcpDelegated!;
        var sends = new List<ITcpSendBuffer>();
        for (var nbl = d.SendDataHead; nbl is not null; nbl = nbl.Next)
        {
            sends.Add(new NetBufferListSendBuffer(nbl));
            SendDataReturnedAtTerminate += nbl.DataLength;
            if (ReferenceEquals(nbl, d.SendDataTail)) break;
        }
        foreach (var b in sends) ((NetBufferListSendBuffer)b).List.Next = null;
        byte[] buffered = [];
        if (d.BufferedData is { } data)
        {
            buffered = new byte[NetBufferListChain.GetDataLength(data)];
            NetBufferListChain.CopyTo(data, 0, buffered);
            BufferedDataReturnedAtTerminate = buffered.Length;
            _target.TcpOffloadReceiveReturn(data);
        }
        Note($"uploaded: {d.State} SndUna {d.SndUna} SndNxt {d.SndNxt} SndMax {d.SndMax} RcvNxt {d.RcvNxt} RcvWnd {d.RcvWnd} SndWnd {d.SndWnd} " +
             $"CWnd {d.CWnd} SRtt {d.SRtt} RttVar {d.RttVar} TsTime {d.TsTime}; {sends.Count} send NBLs ({SendDataReturnedAtTerminate} bytes), " +
             $"{buffered.Length} buffered bytes, {_heldSegments.Count} segments came up during the upload");
        var m = TcpMachine.FromOffloadState(_config, TcpEndpointAddresses.Ipv4(_ourIp, _peerIp), _tcpConst, _tcpCached, d,
            sends.ToArray(), 0, buffered, now);
        m.SendCompletionSink = this;
        _machine = m;
        ReadMachine(m);
        // Spec §6.5: what arrived during the terminate came up unprocessed; the host processes it now.
        SegmentsHeldDuringUpload = _heldSegments.Count;
        foreach (var segment in _heldSegments) m.ProcessSegment(segment, now);
        _heldSegments.Clear();
        _generateLimit = 0;
        _phase = Phase.HostAfterUpload;
        HandOvers.Add((_handOverStart, UnixSeconds()));
    }

    // ---- items from the completion thread --------------------------------------------------------------------------------

    private void DrainItems(Instant now)
    {
        while (_failure is null && _items.TryDequeue(out var item))
        {
            switch (item.Kind)
            {
                case Kind.Frame:
                    HandleFrame(item.Frame!, now);
                    break;
                case Kind.Initiated:
                    OnInitiated((OffloadBlock)item.Payload!);
                    break;
                case Kind.Terminated:
                    OnTerminated((OffloadBlock)item.Payload!, now);
                    break;
                case Kind.Queried:
                    OnQueried((OffloadBlock)item.Payload!);
                    break;
                case Kind.SendDone:
                    for (var nbl = (NetBufferList?)item.Payload; nbl is not null; nbl = nbl.Next)
                    {
                        if (nbl.Status != NdisStatus.Success) { _failure = $"send completed {nbl.Status} ({nbl.TcpOffloadBytesTransferred} bytes)"; break; }
                        AcknowledgedViaTarget += nbl.TcpOffloadBytesTransferred;
                        BytesAcknowledged += nbl.TcpOffloadBytesTransferred;
                        _outstandingChunks--;
                    }
                    break;
                case Kind.ReceiveDone:
                    for (var nbl = (NetBufferList?)item.Payload; nbl is not null;)
                    {
                        var next = nbl.Next;
                        _postsOutstanding--;
                        PostsCompleted++;
                        int count = nbl.TcpReceiveBytesTransferred + nbl.TcpOffloadBytesTransferred;
                        if (nbl.Status != NdisStatus.Success && !(nbl.Status == NdisStatus.UploadInProgress && _phase == Phase.Uploading))
                        {
                            _failure = $"receive completed {nbl.Status} with {count} bytes in phase {_phase}";
                            break;
                        }
                        if (count > 0)
                        {
                            // The bytes placed end at the data start, which the target advanced past them (spec §3).
                            var bytes = Scratch(count);
                            nbl[0].CopyBeforeDataStart(bytes);
                            Received(bytes, $"receive post ({nbl.Status})");
                            ReceivedViaTarget += count;
                        }
                        if (MemoryMarshal.TryGetArray(nbl[0].GetSegment(0), out var segment)) _postBuffers.Push(segment.Array!);
                        if (_phase == Phase.Offloaded) Post();
                        nbl = next;
                    }
                    break;
                case Kind.Indicated:
                {
                    var nbl = (NetBufferList)item.Payload!;
                    var bytes = Scratch((int)nbl.DataLength);
                    nbl.CopyTo(0, bytes);
                    Received(bytes, "indication");
                    ReceivedViaTarget += bytes.Length;
                    Indications++;
                    nbl.Next = null;
                    _target.TcpOffloadReceiveReturn(nbl);
                    break;
                }
                case Kind.ForwardDone:
                    for (var nbl = (NetBufferList?)item.Payload; nbl is not null; nbl = nbl.Next)
                        if (nbl.Status != NdisStatus.Success) _failure = $"forward completed {nbl.Status}";
                    break;
                case Kind.Event when item.Event == TcpOffloadEventType.SendBacklogChange:
                    SendBacklogEvents++;
                    SendBacklog = item.Info;   // advisory (spec §5): this host keeps its own fixed 2 MiB outstanding
                    break;
                case Kind.Event:
                    Note($"event {item.Event} 0x{item.Info:x}");
                    _failure = $"unexpected {item.Event} event (info {item.Info}) in phase {_phase}";
                    break;
                case Kind.Status:
                    _failure = $"unexpected adapter status {(NdisStatus)item.Info}";
                    break;
                case Kind.DisconnectDone:
                    _failure = "unexpected disconnect completion";
                    break;
            }
        }
    }

    private Span<byte> Scratch(int length)
    {
        if (_scratch.Length < length) _scratch = new byte[length];
        return _scratch.AsSpan(0, length);
    }

    private void HandleFrame(byte[] frame, Instant now)
    {
        if (TestFrames.EtherType(frame) == TestFrames.EtherTypeArp)
        {
            var arp = TestFrames.ParseArp(frame);
            if (arp.Spa == _peerIp && !_peerMacKnown)
            {
                _peerMac = arp.Sha;
                _peerMacKnown = true;
            }
            if (arp.Op == 1 && arp.Tpa == _ourIp)
            {
                int n = TestFrames.ArpReply(_tx, _ourMac, _ourIp, arp.Sha, arp.Spa);
                SendFrame(_tx.AsSpan(0, n));
                ArpRepliesSent++;
            }
            return;
        }
        if (!TryGetOurTcp(frame.AsSpan(EthernetHeader), out var tcp)) return;
        ConnectionSegmentsUp++;
        switch (_phase)
        {
            case Phase.Host or Phase.HostAfterUpload or Phase.Done:
                _machine!.ProcessSegment(tcp, now);
                // An ACK owed now (every second segment, out-of-order data) goes out now, not once the whole batch of
                // queued frames was processed: a stretch ACK over a long batch starved the kernel's sending under
                // reordering (row 26 crawled in host mode after the upload on a loaded machine).
                if (_machine.AckDue) _machine.Dispatch(now, this);
                break;
            case Phase.Offloading or Phase.Uploading:
                _heldSegments.Add(tcp.ToArray());
                break;
            default:
                // Offloaded: the target passes up only what it does not process (spec §6.5); nothing of ours is expected.
                Note($"segment of the offloaded connection came up in phase {_phase}");
                _failure ??= $"a segment of the connection came up the non-offload path in phase {_phase}";
                break;
        }
    }

    private bool TryGetOurTcp(Span<byte> ip, out Span<byte> tcp)
    {
        tcp = default;
        if (ip.Length < Ipv4Header || ip[0] >> 4 != 4) return false;
        int ihl = (ip[0] & 0xF) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (ihl < Ipv4Header || totalLength < ihl + 20 || totalLength > ip.Length) return false;
        if (ip[9] != (byte)IpProtocol.Tcp) return false;
        if (Ipv4Address.Read(ip[12..]) != _peerIp || Ipv4Address.Read(ip[16..]) != _ourIp) return false;
        var segment = ip[ihl..totalLength];
        if (BinaryPrimitives.ReadUInt16BigEndian(segment) != _remotePort || BinaryPrimitives.ReadUInt16BigEndian(segment[2..]) != _localPort) return false;
        tcp = segment;
        return true;
    }

    // ---- IOffloadHost (completion thread: record and signal) -------------------------------------------------------------

    private void Add(in Item item)
    {
        _items.Enqueue(item);
        _signal.Release();
    }

    public void InitiateOffloadComplete(OffloadBlock root)
    {
        Note("initiate completion arrived");
        Add(new Item(Kind.Initiated, root));
    }
    public void TerminateOffloadComplete(OffloadBlock root) => Add(new Item(Kind.Terminated, root));
    public void UpdateOffloadComplete(OffloadBlock root) { }
    public void InvalidateOffloadComplete(OffloadBlock root) { }
    public void QueryOffloadStateComplete(OffloadBlock root) => Add(new Item(Kind.Queried, root));
    public void TcpOffloadSendComplete(NetBufferList chain) => Add(new Item(Kind.SendDone, chain));
    public void TcpOffloadReceiveComplete(NetBufferList chain) => Add(new Item(Kind.ReceiveDone, chain));
    public void TcpOffloadDisconnectComplete(NetBufferList nbl) => Add(new Item(Kind.DisconnectDone, nbl));
    public void TcpOffloadForwardComplete(NetBufferList chain) => Add(new Item(Kind.ForwardDone, chain));

    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        // Accept everything; the NBL is ours until ReceiveReturn (the test thread hashes it, then returns it).
        bytesConsumed = (int)nbl.DataLength;
        Add(new Item(Kind.Indicated, nbl));
        return NdisStatus.Success;
    }

    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info) => Add(new Item(Kind.Event, Event: type, Info: info));

    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
    {
        // Reachability query (spec §6.4): the kernel peer is reachable.
        neighborBlock.NeighborCached = (neighborBlock.NeighborCached ?? default) with { HostReachabilityDelta = 1 };
    }

    public void IndicateStatus(NdisStatus adapterStatus) => Add(new Item(Kind.Status, Info: (uint)adapterStatus));

    public void ReceiveFrame(ReadOnlySpan<byte> frame) => Add(new Item(Kind.Frame, Frame: frame.ToArray()));
}
