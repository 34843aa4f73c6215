using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Link;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Target;

/// <summary>
/// The NIC's engine: every offloaded object, the receive demultiplexer, the connections' timers and the transmit batch.
/// One thread runs <see cref="RunOnce"/> at a time (the engine loop, or a test driving it with a manual clock); nothing
/// inside is locked except the queues other threads feed.
/// </summary>
/// <remarks>
/// Architecture §3: host requests enter through <see cref="Requests"/>, frames from the device through
/// <see cref="ReceivedFrames"/> (or are read directly in manual mode), completions and indications leave through the
/// <see cref="CompletionQueue"/> so host code never runs on this thread.
/// </remarks>
internal sealed partial class TargetEngine
{
    private const int OutBatchSize = 64;

    private readonly ILinkDevice _device;
    private readonly ILogger _logger;
    private readonly FramePool _framePool;
    private readonly FrameBuffer[] _outBatch = new FrameBuffer[OutBatchSize];
    private int _outCount;
    private readonly Dictionary<ulong, OffloadObject> _objects = [];
    private readonly Dictionary<ConnectionKey, TcpConnection> _connections = [];
    private readonly List<TcpConnection> _dirty = [];
    private readonly PriorityQueue<TcpConnection, long> _timers = new();
    private readonly Stack<NblSendBuffer> _sendBuffers = new();
    private readonly FrameEmitter _emitter;
    private readonly FamilyStatistics _stats4 = new();
    private readonly FamilyStatistics _stats6 = new();
    private readonly List<TargetRequest> _heldInitiates = [];
    private readonly byte[] _forwardScratch = new byte[65_536 + 60];
    private readonly Action<object?> _indicateCallback;
    private readonly Action<object?> _frameUpCallback;
    private readonly Action<object?> _frameListUpCallback;
    private readonly Action<object?> _neighborQueryCallback;
    private IOffloadHost? _host;
    private OffloadParameters _parameters;
    private TcpConfig _tcpConfig;
    private ulong _nextContext;
    private int _neighborCount;
    private int _pathCount;
    private int _tcpCount;
    private ushort _nextIpv4Id = 0x8000;
    private bool _paused;
    private Instant _now;

    /// <summary>One engine loop over one link queue. <paramref name="first"/> is loop 0 of the same target (null for loop
    /// 0 itself): the other loops share its frame pool and indication buffers. <paramref name="loops"/> sizes the pool.</summary>
    public TargetEngine(ILinkDevice device, OffloadTargetOptions options, CompletionQueue completions, ILogger? logger,
        TargetEngine? first = null, int index = 0, int loops = 1)
    {
        _device = device;
        Options = options;
        SegmentationOffload = (device.Checksums & ChecksumCapabilities.SegmentationOffload) != 0;
        Completions = completions;
        _logger = logger ?? NullLogger.Instance;
        Index = index;
        Loops = [this];
        if (first is not null)
        {
            _framePool = first._framePool;
            IndicationBuffers = first.IndicationBuffers;
            Barrier = first.Barrier;
        }
        else
        {
            // Buffers sized to the link (MTU + Ethernet, VLAN tag and slack), enough of them preallocated for a full
            // receive ring (per loop) plus the host frames and pass-ups in flight, so bursts do not allocate.
            if (SegmentationOffload)
            {
                // Segmentation offload: every buffer holds a 64 KiB super-frame (receive and send). Fewer of them are kept:
                // a full ring of these would be hundreds of MiB; the inline engine reads into its batch, and the pool
                // grows (counted in Allocated) past the preallocation only under a burst of queued frames.
                _framePool = new FramePool(FramePool.SuperFrameBufferSize, loops * 1024);
                _framePool.Preallocate(loops * 256);
            }
            else
            {
                _framePool = new FramePool(device.Mtu + 64, loops * (2 * options.ReceiveRingCapacity + 1024));
                _framePool.Preallocate(loops * (options.ReceiveRingCapacity + 512 + (options.TransmitThread ? options.TransmitRingCapacity : 0)));
            }
            IndicationBuffers = new IndicationBufferPool();
            Barrier = new LoopBarrier(loops);
        }
        _wakeLoop = i => Loops[i].WakeUp?.Invoke();
        _parameters = options.Parameters;
        _tcpConfig = BuildTcpConfig(_parameters);
        _emitter = new FrameEmitter(this);
        _indicateCallback = IndicateOnCompletionThread;
        _frameUpCallback = FrameUpOnCompletionThread;
        _frameListUpCallback = FrameListUpOnCompletionThread;
        _neighborQueryCallback = NeighborQueryOnCompletionThread;
        ReceivedFrames = new FrameRing(options.ReceiveRingCapacity);
        HostFrames = new FrameRing(options.ReceiveRingCapacity);
        _nextContext = 0x1_0000;
        _fragmentPolicy = options.OptionalRetrieveReasons.Contains(Chimney.TcpUploadReason.HighFragmentation);
        _lowActivityPolicy = options.OptionalRetrieveReasons.Contains(Chimney.TcpUploadReason.LowActivity);
    }

    private readonly bool _fragmentPolicy;
    private readonly bool _lowActivityPolicy;
    private Instant _nextActivitySweep = Instant.MinValue;

    // LowActivity policy: a sweep of the connections a few times per timeout (not per connection timer: idle connections
    // have none running).
    private void SweepActivity(Instant now)
    {
        var timeout = Options.LowActivityTimeout;
        foreach (var c in _connections.Values)
            if (now - c.LastActivity >= timeout) c.SuggestUpload(Chimney.TcpUploadReason.LowActivity);
        long step = Math.Min(timeout.Ticks / 10 / 4, 1_000_000);
        _nextActivitySweep = now.AddMicroseconds(step);
    }

    public OffloadTargetOptions Options { get; }

    /// <summary>The device does segmentation offload (<see cref="ChecksumCapabilities.SegmentationOffload"/>): TCP output
    /// goes as super-segments with partial checksums, received super-frames and partial or validated checksums are
    /// accepted without verifying the TCP checksum.</summary>
    public bool SegmentationOffload { get; }

    /// <summary>Received TCP segments for offloaded connections whose checksum the device vouched for (partial or
    /// validated, segmentation offload) and that were therefore not verified.</summary>
    public long ChecksumsTrusted;

    /// <summary>Super-frames (longer than one segment) received for offloaded connections and processed whole.</summary>
    public long SuperFramesIn;

    /// <summary>Receive indications whose buffer was filled from the frames as they came (held bytes, no copy out of the
    /// receive ring), and bytes they carried that way.</summary>
    public long HeldIndications;

    /// <inheritdoc cref="HeldIndications"/>
    public long HeldIndicationBytes;

    /// <summary>Super-segments the connections sent (each counted once; the statistics count their wire segments).</summary>
    public long SuperFramesOut;

    // Loop 0's is the target's; written only at a resume (all loops held), read through Capabilities.
    private TcpConnectionOffloadCapabilities? _capabilities;

    /// <summary>The current capabilities (spec §6.9): the configured ones until a resume brings new ones (spec §6.6:
    /// OFFLOAD_RESUME is the only way to change them; the host re-reads them then).</summary>
    public TcpConnectionOffloadCapabilities Capabilities => Volatile.Read(ref Loops[0]._capabilities) ?? Options.Capabilities;

    /// <summary>The NIC's MAC (options, else the device's).</summary>
    public MacAddress NicMac => Options.MacAddress ?? _device.MacAddress;

    public CompletionQueue Completions { get; }

    public RequestQueue Requests { get; } = new();

    /// <summary>Frames the device reader thread handed over (threaded mode).</summary>
    public FrameRing ReceivedFrames { get; }

    /// <summary>Something another thread queued for the next round (requests, received or host frames): checked by a loop
    /// about to sleep after announcing it (a wake-up that came in between is then not lost).</summary>
    public bool HasQueuedInput => Requests.Count != 0 || HostFrames.Count != 0 || ReceivedFrames.Count != 0 || HasHandOffs
        || (Index != 0 && Barrier.Requested);

    /// <summary>Frames the host sent on the non-offload path, waiting for the engine to transmit them.</summary>
    public FrameRing HostFrames { get; }

    public FramePool FramePool => _framePool;

    public IndicationBufferPool IndicationBuffers { get; }

    public ILinkDevice Device => _device;

    public IOffloadHost Host => _host ?? throw new InvalidOperationException("No host is bound to the offload target.");

    public bool IsBound => _host is not null;

    /// <summary>Frames dropped because the receive ring was full, the host-send ring was full, or they were RSTs the
    /// machine wanted to send where only the abortive disconnect may send one.</summary>
    public long DroppedFrames;

    /// <summary>RST segments the TCP machine produced that the target suppressed (spec §6.1: the only RST a target may
    /// originate is the abortive disconnect).</summary>
    public long SuppressedResets;

    /// <summary>Frames handed up on the non-offload path.</summary>
    public long FramesUp;

    /// <summary>Frames dropped because they arrived for a connection after its abortive close (input stopped).</summary>
    public long FramesDroppedAfterAbort;

    public int ConnectionCount => Volatile.Read(ref _tcpCount);

    /// <summary>Entries in the timer heap, stale ones included (tests: it must stay bounded per connection).</summary>
    internal int TimerEntries => _timers.Count;

    public int PathCount => _pathCount;

    public int NeighborCount => _neighborCount;

    public TimeSpan PushInterval => _parameters.ToTimeSpan(_parameters.TcpPushTicks);

    public OffloadParameters Parameters => Volatile.Read(ref _parameters);

    /// <summary>The TCP configuration new connections get (from the parameters in effect).</summary>
    public TcpConfig TcpConfig => Volatile.Read(ref _tcpConfig);

    public void Bind(IOffloadHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (Interlocked.CompareExchange(ref _host, host, null) is not null)
            throw new InvalidOperationException("A host is already bound to the offload target.");
    }

    public NdisStatus SetParameters(OffloadParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var errors = parameters.Validate();
        if (errors.Count > 0)
        {
            TargetLog.ParametersRefused(_logger, string.Join(" ", errors));
            return NdisStatus.Failure;
        }
        // Connections already offloaded keep their tick rate (their state was converted with it); new ones use these.
        Volatile.Write(ref _parameters, parameters);
        Volatile.Write(ref _tcpConfig, BuildTcpConfig(parameters));
        return NdisStatus.Success;
    }

    private TcpConfig BuildTcpConfig(OffloadParameters parameters)
        => (TcpConfig.Default with
        {
            Sack = Options.Capabilities.SupportSack,
            SuperSegmentBytes = SegmentationOffload ? TcpConfig.MaxSuperSegmentBytes : 0,
            PartialChecksum = SegmentationOffload,
            ChallengeAckInterval = TimeSpan.FromSeconds(3), // spec §6.5: at most one challenge ACK per 3 s
            ReceiveBufferPool = ReceiveBufferPool,
        }).WithOffloadParameters(parameters);

    /// <summary>Where the connections' receive storage comes from while they buffer data.</summary>
    public ReceiveBufferPool ReceiveBufferPool => Options.ReceiveBufferPool ?? ReceiveBufferPool.Shared;

    public FamilyStatistics Stats(bool ipv6) => ipv6 ? _stats6 : _stats4;

    /// <summary>The NIC clock in ticks of the current parameters (spec §6.4: ULONG, modular).</summary>
    private uint NicTicks(Instant now) => unchecked((uint)now.ToTicks((int)_parameters.TicksPerSecond));

    // ---- the loop -----------------------------------------------------------------------------------------------------

    /// <summary>
    /// One round: requests, received frames (from the ring, and from the device when <paramref name="readDevice"/>),
    /// host frames, due timers, then every touched connection is serviced and the transmit batch flushed. Returns the
    /// number of things done (0 = idle).
    /// </summary>
    public int RunOnce(Instant now, bool readDevice, Span<FrameBuffer> readBatch)
    {
        // With an engine-thread host (the control server's multiplexer, docs/control.md) the completions this round posts
        // are run at its end by this thread while that host takes them, instead of waking a worker.
        if (!Completions.BeginEngineRound()) return RunRound(now, readDevice, readBatch);
        try
        {
            return RunRound(now, readDevice, readBatch);
        }
        finally
        {
            Completions.EndEngineRound();
        }
    }

    private int RunRound(Instant now, bool readDevice, Span<FrameBuffer> readBatch)
    {
        _now = now;
        int work = 0;
        while (Requests.TryDequeue(out var request))
        {
            work++;
            // Host frames sent before this request go out before anything it causes: a host that sends its last
            // host-mode segments and then initiates an offload must not see the offloaded connection's first segments
            // (ACKs owed while frames are processed below go out at once) overtake them on the wire.
            work += DrainHostFrames();
            // A tree operation (or anything reading other loops' connections) runs with every other loop parked.
            bool exclusive = Loops.Length > 1 && NeedsAllLoops(request.Kind);
            if (exclusive) Barrier.Enter(_wakeLoop);
            try
            {
                HandleRequest(request, now);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                TargetLog.RequestFailed(_logger, request.Kind.ToString(), ex);
            }
            finally
            {
                if (exclusive)
                {
                    Flush(); // host frames drained before the operation leave before the other loops send anything it caused
                    Transmitter?.WaitIdle();
                    Barrier.Exit();
                }
            }
        }
        if (Loops.Length > 1) work += DrainHandOffs(now);
        while (ReceivedFrames.TryDequeue(out var frame))
        {
            work++;
            if (Loops.Length > 1 && TryHandOff(frame)) continue;
            ProcessFrame(frame, now);
            _framePool.Return(frame);
        }
        if (readDevice)
        {
            int n;
            while ((n = _device.Receive(readBatch, 0)) > 0)
            {
                if (Loops.Length > 1)
                {
                    for (int i = 0; i < n; i++)
                        if (!TryHandOffFromBatch(readBatch, i)) ProcessFrame(readBatch[i], now);
                }
                else
                {
                    for (int i = 0; i < n; i++) ProcessFrame(readBatch[i], now);
                }
                work += n;
                if (n < readBatch.Length) break;
            }
        }
        work += DrainHostFrames();
        if (_lowActivityPolicy && _connections.Count > 0 && now >= _nextActivitySweep) SweepActivity(now);
        while (_timers.TryPeek(out var due, out long at) && at <= now.Microseconds)
        {
            _timers.Dequeue();
            if (due.Terminated || at != due.QueuedAt) continue; // superseded by an earlier entry
            due.QueuedAt = long.MaxValue;
            if (due.WakeAt == Instant.MaxValue) continue; // timers off since
            if (due.WakeAt > now)
            {
                // The wake moved later after this entry was queued: one entry again, at the new time.
                due.QueuedAt = due.WakeAt.Microseconds;
                _timers.Enqueue(due, due.QueuedAt);
                continue;
            }
            due.WakeAt = Instant.MaxValue;
            MarkDirty(due);
            work++;
        }
        ServiceDirty(now);
        Flush();
        return work;
    }

    /// <summary>The earliest instant a connection needs service (Instant.MaxValue = none).</summary>
    private Instant NextTimer
    {
        get
        {
            while (_timers.TryPeek(out var c, out long at))
            {
                // May be earlier than the connection's wake (it moved later): the round then re-queues it, no more.
                if (!c.Terminated && at == c.QueuedAt && c.WakeAt != Instant.MaxValue) return new Instant(at);
                _timers.Dequeue();
                if (at == c.QueuedAt) c.QueuedAt = long.MaxValue;
            }
            return Instant.MaxValue;
        }
    }

    /// <summary>The earliest of the connection timers and the policy sweep.</summary>
    public Instant NextWake
    {
        get
        {
            var next = NextTimer;
            if (_lowActivityPolicy && _connections.Count > 0 && _nextActivitySweep != Instant.MinValue && _nextActivitySweep < next)
                next = _nextActivitySweep;
            return next;
        }
    }

    public void MarkDirty(TcpConnection connection)
    {
        if (connection.Dirty || connection.Terminated) return;
        connection.Dirty = true;
        _dirty.Add(connection);
    }

    private void ServiceDirty(Instant now)
    {
        // Servicing can dirty other connections (or the same one again): loop until quiet.
        for (int i = 0; i < _dirty.Count; i++)
        {
            var c = _dirty[i];
            c.Dirty = false;
            if (c.Terminated) continue;
            try
            {
                c.Service(now);
                if (c.Terminating is { } op && !c.IndicationOutstanding) FinishConnectionTerminate(c, op, now);
                else Reschedule(c, now);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                TargetLog.ConnectionFault(_logger, c.ToString(), ex);
                c.FailHardware();
            }
        }
        _dirty.Clear();
    }

    private void Reschedule(TcpConnection c, Instant now)
    {
        if (c.Terminated) return;
        var next = c.PushAt;
        if (c.CanTransmit) next = Instant.Min(next, c.Machine.PollAt());
        if (next != Instant.MaxValue && next <= now) next = now.AddMicroseconds(1000); // never spin on a timer that cannot make progress
        if (next == c.WakeAt) return;
        c.WakeAt = next;
        // Queue only a wake earlier than the one already queued: a later one is found when that entry comes due, so a
        // connection whose deadline moves later on every round (the retransmit timer of a bulk sender) keeps one entry
        // instead of one per round for a whole RTO.
        if (next != Instant.MaxValue && next.Microseconds < c.QueuedAt)
        {
            c.QueuedAt = next.Microseconds;
            _timers.Enqueue(c, next.Microseconds);
        }
    }

    // ---- output -------------------------------------------------------------------------------------------------------

    /// <summary>Lets the connection's machine write its segments (data, ACKs, retransmissions, probes).</summary>
    public void Transmit(TcpConnection c, Instant now)
    {
        if (c.CanTransmit) CheckReachability(c, now);
        _emitter.Begin(c);
        c.Machine.Dispatch(now, _emitter);
        _emitter.End();
        if (c.ResetAllowed && c.Machine.State == TcpState.Closed) c.AbortSent = true;
    }

    /// <summary>The loop's last act when the target stops: the host's frames still queued (an ACK of the peer's FIN the
    /// host stack sent just before its application closed and stopped everything) and the transmit batch go out. Without
    /// it a stop racing the engine's wake-up lost them, and the peer sat in LAST-ACK retransmitting into nothing.</summary>
    public void DrainOnStop()
    {
        DrainHostFrames();
        Flush();
    }

    private int DrainHostFrames()
    {
        int n = 0;
        while (HostFrames.TryDequeue(out var hostFrame))
        {
            n++;
            QueueOut(hostFrame);
        }
        return n;
    }

    public void QueueOut(FrameBuffer frame)
    {
        _outBatch[_outCount++] = frame;
        if (_outCount == _flushAt) Flush();
    }

    /// <summary>The loop's transmit thread (<see cref="OffloadTargetOptions.TransmitThread"/>; null: the loop writes its
    /// frames itself). Set once before the loop runs.</summary>
    public TransmitThread? Transmitter { get; private set; }

    /// <summary>Frames the loop wrote itself although it has a transmit thread (a small round with the thread idle).</summary>
    public long FramesWrittenInline;

    // With a transmit thread a long round is handed over in smaller pieces, so the thread starts on the first ones while the
    // loop builds the rest.
    private int _flushAt = OutBatchSize;

    public void AttachTransmitter(TransmitThread transmitter)
    {
        Transmitter = transmitter;
        _flushAt = TransmitHandOffBatch;
    }

    private const int TransmitHandOffBatch = 16;

    public void Flush()
    {
        if (_outCount == 0) return;
        Volatile.Write(ref FramesOut, FramesOut + _outCount);   // one writer: the loop's thread
        if (Transmitter is { } tx)
        {
            tx.Reclaim();
            // A round of a few frames (an ACK, a request's reply) with nothing in flight goes out at once from here: no
            // hand-off latency for request/response. Anything else, and anything while the thread still holds frames
            // (they must leave first), is handed over in order.
            if (_outCount > Options.TransmitInlineFrames || !tx.IsIdle)
            {
                tx.Hand(_outBatch.AsSpan(0, _outCount));
                Array.Clear(_outBatch, 0, _outCount);
                _outCount = 0;
                return;
            }
            Volatile.Write(ref FramesWrittenInline, FramesWrittenInline + _outCount);
        }
        try
        {
            _device.Send(_outBatch.AsSpan(0, _outCount));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            TargetLog.SendFailed(_logger, _device.Name, ex);
        }
        for (int i = 0; i < _outCount; i++)
        {
            _framePool.Return(_outBatch[i]);
            _outBatch[i] = null!;
        }
        _outCount = 0;
    }

    /// <summary>Writes Ethernet (+802.1Q) and IP headers in front of a TCP segment of <paramref name="tcpLength"/> bytes;
    /// a super-segment (<paramref name="segments"/> &gt; 1, each with a <paramref name="tcpHeaderLength"/>-byte TCP header on
    /// the wire) takes that many consecutive IPv4 IDs and is counted as that many datagrams.</summary>
    public void WriteHeaders(TcpConnection c, Span<byte> frame, int tcpLength, int segments = 1, int tcpHeaderLength = 0)
    {
        var neighbor = c.Path.Neighbor;
        var cached = c.Cached;
        var source = neighbor.Const.DlSourceAddress == MacAddress.Zero ? NicMac : neighbor.Const.DlSourceAddress;
        VlanTag? tag = c.NeedsVlanTag ? new VlanTag(neighbor.Const.VlanId, cached.UserPriority) : null;
        var ethernet = new EthernetRepr(source, neighbor.Cached.DlDestinationAddress, c.IsIpv6 ? EtherType.Ipv6 : EtherType.Ipv4, tag);
        ethernet.Emit(frame);
        int l2 = ethernet.BufferLength;
        var path = c.Path.Const;
        var stats = Stats(c.IsIpv6).Ip;
        if (c.IsIpv6)
        {
            byte hop = cached.TtlOrHopLimit != 0 ? cached.TtlOrHopLimit : (byte)64;
            new Ipv6Repr(path.SourceAddress.Ipv6, path.DestinationAddress.Ipv6, IpProtocol.Tcp, tcpLength, hop, cached.TosOrTrafficClass, cached.FlowLabel)
                .Emit(frame[l2..]);
            stats.AddSent((ulong)(segments * Ipv6Packet.HeaderLength + tcpLength + (segments - 1) * tcpHeaderLength), (ulong)segments);
        }
        else
        {
            byte ttl = cached.TtlOrHopLimit != 0 ? cached.TtlOrHopLimit : (byte)64;
            // Spec §5: DF on every segment; IP-IDs from the upper half (the host owns 0x0000-0x7FFF). The kernel gives the
            // segments of a super-segment id, id+1, ... (no FIXEDID from a TAP): the run must not wrap into the host's half.
            ushort id = _nextIpv4Id;
            if (id + segments - 1 > 0xFFFF) id = 0x8000;
            int next = id + segments;
            _nextIpv4Id = next > 0xFFFF ? (ushort)0x8000 : (ushort)next;
            new Ipv4Repr(path.SourceAddress.Ipv4, path.DestinationAddress.Ipv4, IpProtocol.Tcp, tcpLength, ttl, id, dontFragment: true,
                    dscp: (byte)(cached.TosOrTrafficClass >> 2), ecn: 0)
                .Emit(frame[l2..]);
            stats.AddSent((ulong)(segments * Ipv4Packet.MinHeaderLength + tcpLength + (segments - 1) * tcpHeaderLength), (ulong)segments);
        }
    }

    /// <summary>Counts one TCP segment leaving (TCP_OFFLOAD_STATS: OutSegments excludes pure retransmissions).</summary>
    public void CountOutSegment(TcpConnection c, ReadOnlySpan<byte> tcp, int segments = 1)
    {
        var seq = new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]));
        int headerLength = (tcp[12] >> 4) * 4;
        int payload = tcp.Length - headerLength;
        var stats = Stats(c.IsIpv6).Tcp;
        if (payload > 0 && seq < c.HighestSent)
        {
            stats.AddRetransmittedSegments((ulong)segments);
            return;
        }
        if (payload > 0) c.HighestSent = seq + payload;
        stats.AddOutSegments((ulong)segments);
    }

    // ---- send buffers -------------------------------------------------------------------------------------------------

    public NblSendBuffer RentSendBuffer() => _sendBuffers.TryPop(out var b) ? b : new NblSendBuffer();

    public void ReturnSendBuffer(NblSendBuffer buffer)
    {
        buffer.Clear();
        if (_sendBuffers.Count < 65_536) _sendBuffers.Push(buffer);
    }

    // ---- to the host --------------------------------------------------------------------------------------------------

    public void PostSendComplete(NetBufferList chain) => Completions.PostTcpOffloadSendComplete(Host, chain);

    public void PostReceiveComplete(NetBufferList chain) => Completions.PostTcpOffloadReceiveComplete(Host, chain);

    public void PostForwardComplete(NetBufferList chain) => Completions.PostTcpOffloadForwardComplete(Host, chain);

    public void PostDisconnectComplete(NetBufferList nbl) => Completions.PostTcpOffloadDisconnectComplete(Host, nbl);

    public void PostEvent(TcpConnection c, TcpOffloadEventType type, uint info)
    {
        TargetLog.Event(_logger, c.ToString(), type.ToString(), info);
        Completions.PostTcpOffloadEvent(Host, c.Handle, type, info);
    }

    public void ScheduleIndication(IndicationBuffer buffer)
        => Completions.ScheduleIndication(_indicateCallback, buffer, buffer.Connection!.Handle, (int)buffer.Nbl.DataLength);

    // Runs on the completion thread: the host answers synchronously; the answer goes back to the engine as a request.
    private void IndicateOnCompletionThread(object? state)
    {
        var buffer = (IndicationBuffer)state!;
        var c = buffer.Connection!;
        int length = (int)buffer.Nbl.DataLength;
        buffer.Nbl.Status = NdisStatus.Success;
        NdisStatus answer = NdisStatus.OffloadDataNotAccepted;
        int taken = 0;
        // The host may return the NBL from inside the callback (ReceiveReturn is synchronous and legal at any time after
        // it accepted): it holds the NBL from the moment it sees it.
        buffer.HeldByHost = true;
        bool keeps = buffer.KeepsBytes;
        if (keeps) buffer.BeginAnswer();
        try
        {
            answer = Host.TcpOffloadReceiveIndicate(c.Handle, buffer.Nbl, NdisStatus.Success, out int consumed);
            switch (answer)
            {
                case NdisStatus.Success:
                    taken = length;
                    break;
                case NdisStatus.OffloadDataPartiallyAccepted when consumed > 0 && consumed < length:
                    taken = consumed;
                    break;
                default:
                    // NOT_ACCEPTED, or an illegal answer (the contract checker reports those): nothing was taken.
                    answer = NdisStatus.OffloadDataNotAccepted;
                    break;
            }
        }
        finally
        {
            // Even when the host throws, the engine must learn the indication is over (the exception still surfaces).
            // Accepted: the host keeps it until ReceiveReturn (perhaps already done inside the callback). Otherwise the
            // target owns the NBL again (the bytes are still in the connection's buffer) unless the host returned it anyway.
            if (keeps)
            {
                // Held bytes live only in this buffer: after a refusal the engine copies the ones not taken back into the
                // connection's ring and returns the buffer itself (OnIndicationAnswered), even when the host already
                // handed it back (an illegal return of a refused NBL must not lose them).
                bool returnedDuringCall = buffer.EndAnswer();
                if (answer != NdisStatus.Success) buffer.TryEndHostOwnership();
                else if (returnedDuringCall) IndicationBuffers.Return(buffer);
            }
            else if (answer != NdisStatus.Success && buffer.TryEndHostOwnership()) IndicationBuffers.Return(buffer);
            Requests.Enqueue(new TargetRequest(RequestKind.IndicationAnswered, 0, c, taken, answer));
            WakeUp?.Invoke();
        }
    }

    /// <summary>Wakes the engine thread after something was queued (null in manual mode).</summary>
    public Action? WakeUp { get; set; }

    /// <summary>ReceiveReturn (spec §3): synchronous, any thread, never fails.</summary>
    public void ReturnIndicated(NetBufferList chain)
    {
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            if (nbl.MiniportReserved is IndicationBuffer buffer && buffer.TryEndHostOwnership())
            {
                if (!buffer.TryDeferReturn()) IndicationBuffers.Return(buffer);
            }
            else TargetLog.UnknownReturn(_logger);
            nbl = next;
        }
    }

    /// <summary>Hands a frame up on the non-offload path (copied; delivered on the completion thread, in order).</summary>
    public void PassUp(ReadOnlySpan<byte> frame)
    {
        if (_host is null) return;
        var copy = _framePool.Rent();
        if (frame.Length > copy.Array.Length)
        {
            _framePool.Return(copy);
            Interlocked.Increment(ref DroppedFrames);
            return;
        }
        frame.CopyTo(copy.Array);
        copy.Length = frame.Length;
        // Segmentation offload: the host sees a frame as a NIC without checksum offload would hand it over.
        if (_rxOffload.ChecksumPartial) CompletePartialChecksum(copy.Span, _rxOffload);
        Interlocked.Increment(ref FramesUp);
        Completions.Schedule(_frameUpCallback, copy);
    }

    private void FrameUpOnCompletionThread(object? state)
    {
        var frame = (FrameBuffer)state!;
        try
        {
            Host.ReceiveFrame(frame.Span);
        }
        finally
        {
            _framePool.Return(frame);
        }
    }

    /// <summary>Hands a list of held frames up, in order, after everything queued before.</summary>
    public void PassUpLater(List<byte[]> frames)
    {
        if (frames.Count == 0 || _host is null) return;
        Completions.Schedule(_frameListUpCallback, frames.ToArray());
        frames.Clear();
    }

    private void FrameListUpOnCompletionThread(object? state)
    {
        foreach (var frame in (byte[][])state!)
        {
            Interlocked.Increment(ref FramesUp);
            Host.ReceiveFrame(frame);
        }
    }

    /// <summary>Queues a host frame for transmission (non-offload path); false when the ring is full.</summary>
    public NdisStatus EnqueueHostFrame(ReadOnlySpan<byte> frame)
    {
        int max = _device.Mtu + EthernetFrame.TaggedHeaderLength;
        if (frame.Length < EthernetFrame.UntaggedHeaderLength || frame.Length > max) return NdisStatus.Failure;
        var buffer = _framePool.Rent();
        frame.CopyTo(buffer.Array);
        buffer.Length = frame.Length;
        if (!HostFrames.TryEnqueue(buffer))
        {
            _framePool.Return(buffer);
            Interlocked.Increment(ref DroppedFrames);
            return NdisStatus.Resources;
        }
        WakeUp?.Invoke();
        return NdisStatus.Success;
    }

    public void Enqueue(in TargetRequest request)
    {
        Requests.Enqueue(request);
        WakeUp?.Invoke();
    }

    /// <summary>A new context id for an object owned by loop <paramref name="owner"/> (0 for neighbours and paths): the
    /// owner is <c>context % loops</c>, so a request finds its loop from the context alone. Coordinator only.</summary>
    private ulong NewContext(int owner = 0)
    {
        var coordinator = Loops[0];
        ulong n = ++coordinator._nextContext;
        return Loops.Length == 1 ? n : n * (ulong)Loops.Length + (ulong)owner;
    }

    /// <summary>The loop that owns the object with <paramref name="context"/>.</summary>
    public int LoopOfContext(ulong context) => Loops.Length == 1 ? 0 : (int)(context % (ulong)Loops.Length);

    /// <summary>The object with <paramref name="context"/>, on whichever loop owns it (its own loop, or any loop while
    /// the others are parked).</summary>
    private bool TryGetAnyObject(ulong context, out OffloadObject obj)
        => Loops[LoopOfContext(context)]._objects.TryGetValue(context, out obj!);

    /// <summary>The connections of this loop (for tests and diagnostics; engine thread only).</summary>
    internal IEnumerable<TcpConnection> Connections => _connections.Values;

    /// <summary>The connections of every loop (coordinator with the others parked, or manual mode).</summary>
    internal IEnumerable<TcpConnection> AllConnections
    {
        get
        {
            foreach (var loop in Loops)
                foreach (var c in loop._connections.Values) yield return c;
        }
    }

    /// <summary>Offloaded connections over every loop (each loop's count is written by its own thread).</summary>
    public int TotalConnectionCount
    {
        get
        {
            int n = 0;
            foreach (var loop in Loops) n += Volatile.Read(ref loop._tcpCount);
            return n;
        }
    }

    internal bool TryGetObject(ulong context, out OffloadObject obj) => TryGetAnyObject(context, out obj);
}
