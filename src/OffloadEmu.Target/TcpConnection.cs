using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Target;

/// <summary>
/// One offloaded TCP connection: the TCP machine plus the chimney bookkeeping around it (send NBLs in flight, receive
/// posts, indications, disconnect, upload state). Owned by the engine thread; nothing here is locked.
/// </summary>
/// <remarks>
/// Send (spec §5): each host NBL becomes a machine send buffer; the machine reports it when the cumulative ACK passes
/// its end, and it completes SUCCESS with its full byte count, in order. Receive (spec §3): the machine's receive ring
/// is the NIC's buffer for data nobody has taken yet, so the advertised window shrinks while data waits and opens
/// only as posts or accepted indications consume it.
/// </remarks>
internal sealed partial class TcpConnection : OffloadObject, ITcpSendCompletionSink, ITcpReceiveConsumer
{
    private readonly TargetEngine _engine;
    private readonly Queue<NblSendBuffer> _sends = new();
    private SeqNumber _headStart;
    private NetBufferList? _sendDoneHead;
    private NetBufferList? _sendDoneTail;
    private NetBufferList? _forwardDoneHead;
    private NetBufferList? _forwardDoneTail;
    private NetBufferList? _disconnectNbl;
    private int _disconnectBytes;
    private bool _disconnectDataAcked;
    private bool _countedEstablished;
    private uint _backlog;
    private Instant _backlogEventAt = Instant.MinValue;

    public TcpConnection(TargetEngine engine, ulong context, ulong handle, PathObject path, TcpMachine machine, ConnectionKey key,
        in TcpConstState constState, in TcpCachedState cached)
        : base(context, handle)
    {
        _engine = engine;
        Path = path;
        Machine = machine;
        Key = key;
        Const = constState;
        Cached = cached;
        _headStart = machine.SndUna;
        machine.SendCompletionSink = this;
        machine.ReceiveConsumer = this;
    }

    public override OffloadLayer Layer => OffloadLayer.Tcp;

    public PathObject Path { get; }

    public TcpMachine Machine { get; }

    public ConnectionKey Key { get; }

    public TcpConstState Const { get; }

    public TcpCachedState Cached { get; set; }

    public bool IsIpv6 => Path.IsIpv6;

    /// <summary>Bytes of L2 + L3 headers in front of every TCP segment (VLAN tag included when one is sent).</summary>
    public int HeaderLength => (NeedsVlanTag ? EthernetFrame.TaggedHeaderLength : EthernetFrame.UntaggedHeaderLength)
                               + (IsIpv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinHeaderLength);

    /// <summary>Spec §6.5: untagged when the neighbour's VlanId and the priority are both 0.</summary>
    public bool NeedsVlanTag => Path.Neighbor.Const.VlanId != 0 || Cached.UserPriority != 0;

    // ---- lifecycle flags ----------------------------------------------------------------------------------------------

    /// <summary>The initiate completion was posted: indications may follow it (FIFO queue, spec §3 last bullet).</summary>
    public bool InitiateCompleted { get; set; }

    /// <summary>Part of a terminate in progress: arrivals go up, new I/O completes UPLOAD_IN_PROGRESS.</summary>
    public TerminateOperation? Terminating { get; set; }

    /// <summary>A Retrieve was indicated for a mandatory reason: new I/O completes UPLOAD_IN_PROGRESS (spec §5, §6.3).</summary>
    public bool RetrieveIndicated { get; private set; }

    /// <summary>An acceptable RST arrived (spec §6.2).</summary>
    public bool ResetReceived { get; private set; }

    /// <summary>The host asked for an abortive disconnect; the RST is the only one the target may send (spec §6.1).</summary>
    public bool AbortRequested { get; private set; }

    /// <summary>The abortive RST went out: input is ignored and nothing more is sent.</summary>
    public bool AbortSent { get; set; }

    /// <summary>An injected hardware failure (spec §6.6 hardware-corrupt path).</summary>
    public bool HardwareFailed { get; private set; }

    /// <summary>The connection ends CLOSED at upload (SYN at RcvNxt, spec §6.5 and §9.7).</summary>
    public bool ClosedByUpload { get; set; }

    /// <summary>Urgent data arrived: it and everything after it is held unprocessed and passed up after terminate (spec §6.5).</summary>
    public bool UrgentHold { get; set; }

    /// <summary>Frames held while <see cref="UrgentHold"/> (copies, in arrival order); made when the first is held.</summary>
    public List<byte[]> HeldFrames => _heldFrames ??= [];

    /// <summary>The held frames, or null when none were ever held (an idle connection holds no list).</summary>
    public List<byte[]>? HeldFramesIfAny => _heldFrames;

    private List<byte[]>? _heldFrames;

    /// <summary>Bytes of the frames held for the host since <see cref="UrgentHold"/> (here and in the terminate's
    /// FramesAfter), bounded by <see cref="TargetEngine.MaxHeldFrameBytes"/>.</summary>
    public long HeldFrameBytes { get; set; }

    /// <summary>Highest sequence number sent, for counting retransmitted segments (TCP_OFFLOAD_STATS).</summary>
    public SeqNumber HighestSent { get; set; }

    // ---- scheduling ---------------------------------------------------------------------------------------------------

    /// <summary>When the engine will next service this connection (Instant.MaxValue = not scheduled).</summary>
    public Instant WakeAt { get; set; } = Instant.MaxValue;

    /// <summary>Microseconds of this connection's live entry in the engine's timer heap (long.MaxValue = none); the wake
    /// may lie later than it.</summary>
    public long QueuedAt { get; set; } = long.MaxValue;

    /// <summary>In the engine's list of connections to service at the end of this round.</summary>
    public bool Dirty { get; set; }

    /// <summary>True while the machine may put frames on the wire.</summary>
    public bool CanTransmit => !Invalid && !Path.EffectivelyInvalid && !AbortSent && !HardwareFailed && !UrgentHold
                               && !(ResetReceived && !AbortRequested) && !Terminated;

    /// <summary>The RST the machine is about to send is the one the host asked for.</summary>
    public bool ResetAllowed => AbortRequested && !AbortSent;

    /// <summary>The send backlog currently asked of the host (spec §5).</summary>
    public uint SendBacklog => _backlog;

    /// <summary>Sends handed to the machine and not completed.</summary>
    public int OutstandingSends => _sends.Count;

    // ---- send (spec §5) ---------------------------------------------------------------------------------------------

    /// <summary>Queues outstanding send data handed over at initiate (their first byte is SndUna).</summary>
    public void AdoptInitialSend(NblSendBuffer buffer) => _sends.Enqueue(buffer);

    /// <summary>Takes one host send NBL: queued on the machine, or completed at once with a failure status.</summary>
    public void Send(NetBufferList nbl)
    {
        NdisStatus refusal = RefusalStatus();
        if (refusal == NdisStatus.Success && (_disconnectNbl is not null || Machine.State is not (TcpState.Established or TcpState.CloseWait)))
            refusal = NdisStatus.InvalidState; // send half already closed: the host broke the contract; fail, never hang
        if (refusal != NdisStatus.Success)
        {
            CompleteSend(nbl, refusal, 0);
            return;
        }
        NoteActivity(_now);
        NoteSendRequest(nbl.DataLength);
        if (nbl.DataLength == 0)
        {
            // Nothing to ACK: complete at once, in order behind anything still queued.
            if (_sends.Count == 0) CompleteSend(nbl, NdisStatus.Success, 0);
            else QueueOnMachine(nbl, isDisconnect: false);
            return;
        }
        QueueOnMachine(nbl, isDisconnect: false);
    }

    private void QueueOnMachine(NetBufferList nbl, bool isDisconnect)
    {
        var buffer = _engine.RentSendBuffer();
        buffer.Set(nbl, isDisconnect);
        _sends.Enqueue(buffer);
        if (buffer.Length > 0)
        {
            Machine.Enqueue(buffer);
        }
        else
        {
            // A zero-length buffer is completed as soon as everything before it is.
            if (_sends.Count == 1) OnSendCompleted(buffer, 0);
        }
        MarkDirty();
    }

    /// <inheritdoc/>
    public void OnSendCompleted(ITcpSendBuffer buffer, int byteCount)
    {
        // The machine completes in queue order; zero-length buffers queued behind it complete with it.
        while (_sends.TryPeek(out var head))
        {
            _sends.Dequeue();
            _headStart += head.Length;
            var nbl = head.List;
            if (head.IsDisconnect) _disconnectDataAcked = true;
            else CompleteSend(nbl, NdisStatus.Success, head.Length);
            _engine.ReturnSendBuffer(head);
            if (ReferenceEquals(head, buffer)) break;
        }
        while (_sends.TryPeek(out var next) && next.Length == 0)
        {
            _sends.Dequeue();
            if (next.IsDisconnect) _disconnectDataAcked = true;
            else CompleteSend(next.List, NdisStatus.Success, 0);
            _engine.ReturnSendBuffer(next);
        }
        MarkDirty();
    }

    /// <summary>Bytes of the oldest queued send already acknowledged.</summary>
    private int HeadAcknowledged => _sends.Count == 0 ? 0 : (int)Math.Clamp(Machine.SndUna - _headStart, 0, _sends.Peek().Length);

    private void CompleteSend(NetBufferList nbl, NdisStatus status, int bytes)
    {
        nbl.Status = status;
        nbl.TcpOffloadBytesTransferred = bytes;
        AdvanceBuffers(nbl, bytes);
        nbl.Next = null;
        NetBufferListChain.Append(ref _sendDoneHead, ref _sendDoneTail, nbl);
    }

    // Spec §5: "advance each NB by its ACKed bytes".
    private static void AdvanceBuffers(NetBufferList nbl, int bytes)
    {
        for (int i = 0; i < nbl.BufferCount && bytes > 0; i++)
        {
            var nb = nbl[i];
            int n = Math.Min(bytes, nb.DataLength);
            nb.Advance(n);
            bytes -= n;
        }
    }

    /// <summary>Fails every queued send (first one with its ACKed byte count, spec §5 "at most one partial").</summary>
    private void FailSends(NdisStatus status)
    {
        bool first = true;
        while (_sends.TryDequeue(out var buffer))
        {
            int acked = first ? (int)Math.Clamp(Machine.SndUna - _headStart, 0, buffer.Length) : 0;
            first = false;
            _headStart += buffer.Length;
            if (buffer.IsDisconnect) _disconnectBytes = acked;
            else CompleteSend(buffer.List, status, acked);
            _engine.ReturnSendBuffer(buffer);
        }
    }

    /// <summary>
    /// Terminate: the sends not yet fully acknowledged, oldest first, linked through Next, the first one's NBs advanced
    /// past its acknowledged bytes so that its current data start is SndUna (spec §5 "at terminate", §6.6).
    /// </summary>
    public (NetBufferList? Head, NetBufferList? Tail) TakeUnacknowledgedSends()
    {
        NetBufferList? head = null, tail = null;
        bool first = true;
        while (_sends.TryDequeue(out var buffer))
        {
            var nbl = buffer.List;
            if (buffer.IsDisconnect)
            {
                // The disconnect's own data is reported with the disconnect completion (docs/target.md).
                _engine.ReturnSendBuffer(buffer);
                continue;
            }
            if (first)
            {
                AdvanceBuffers(nbl, (int)Math.Clamp(Machine.SndUna - _headStart, 0, buffer.Length));
                first = false;
            }
            _headStart += buffer.Length;
            nbl.Next = null;
            NetBufferListChain.Append(ref head, ref tail, nbl);
            _engine.ReturnSendBuffer(buffer);
        }
        return (head, tail);
    }

    // ---- disconnect (spec §6.1) ---------------------------------------------------------------------------------------

    public void Disconnect(NetBufferList nbl, TcpDisconnectFlags flags)
    {
        if ((flags & TcpDisconnectFlags.Abortive) != 0)
        {
            if (ResetReceived || AbortRequested || Terminating is not null || HardwareFailed)
            {
                CompleteDisconnect(nbl, AbortRequested || ResetReceived || HardwareFailed ? NdisStatus.RequestAborted : NdisStatus.UploadInProgress, 0);
                return;
            }
            AbortRequested = true;
            FailSends(NdisStatus.RequestAborted);
            FailPosts(NdisStatus.RequestAborted);
            if (_disconnectNbl is { } graceful)
            {
                _disconnectNbl = null;
                CompleteDisconnect(graceful, NdisStatus.RequestAborted, _disconnectBytes);
            }
            Machine.Abort();
            _engine.Stats(IsIpv6).Tcp.AddOutResets();
            CompleteDisconnect(nbl, NdisStatus.Success, 0);
            MarkDirty();
            return;
        }
        NdisStatus refusal = RefusalStatus();
        if (refusal == NdisStatus.Success && _disconnectNbl is not null) refusal = NdisStatus.InvalidState;
        if (refusal == NdisStatus.Success && Machine.State is not (TcpState.Established or TcpState.CloseWait)) refusal = NdisStatus.InvalidState;
        if (refusal != NdisStatus.Success)
        {
            CompleteDisconnect(nbl, refusal, 0);
            return;
        }
        _disconnectNbl = nbl;
        _disconnectBytes = (int)Math.Min(int.MaxValue, nbl.DataLength);
        _disconnectDataAcked = _disconnectBytes == 0;
        if (_disconnectBytes > 0) QueueOnMachine(nbl, isDisconnect: true);
        Machine.Close();
        MarkDirty();
    }

    private void CompleteDisconnect(NetBufferList nbl, NdisStatus status, int bytes)
    {
        FlushSendCompletions(); // spec §6.1: every earlier send completes first
        nbl.Status = status;
        nbl.TcpOffloadBytesTransferred = bytes;
        nbl.Next = null;
        _engine.PostDisconnectComplete(nbl);
    }

    // SUCCESS only once the data and the FIN are acknowledged (spec §6.1).
    private void CheckDisconnectCompletion()
    {
        if (_disconnectNbl is not { } nbl) return;
        bool finAcked = Machine.State is TcpState.FinWait2 or TcpState.TimeWait
                        || (Machine.State == TcpState.Closed && !ResetReceived && !AbortRequested);
        if (!finAcked || !_disconnectDataAcked) return;
        _disconnectNbl = null;
        CompleteDisconnect(nbl, NdisStatus.Success, _disconnectBytes);
    }

    // ---- forward (spec §4) --------------------------------------------------------------------------------------------

    public void CompleteForward(NetBufferList nbl, NdisStatus status)
    {
        nbl.Status = status;
        nbl.Next = null;
        NetBufferListChain.Append(ref _forwardDoneHead, ref _forwardDoneTail, nbl);
    }

    // ---- events and service -------------------------------------------------------------------------------------------

    /// <summary>The status new I/O gets instead of being queued, or SUCCESS when it can be taken.</summary>
    public NdisStatus RefusalStatus()
        => ResetReceived || AbortRequested || HardwareFailed ? NdisStatus.RequestAborted
            : Terminating is not null || RetrieveIndicated ? NdisStatus.UploadInProgress
            : NdisStatus.Success;

    /// <summary>Asks the host to upload the connection (spec §6.3); once per connection.</summary>
    public void RequestRetrieve(TcpUploadReason reason)
    {
        if (RetrieveIndicated || Terminating is not null) return;
        RetrieveIndicated = true;
        _engine.PostEvent(this, TcpOffloadEventType.Retrieve, (uint)reason);
    }

    /// <summary>Injected hardware failure: Retrieve(HardwareFailure), then Abort; terminate fails (spec §6.6).</summary>
    public void FailHardware()
    {
        if (HardwareFailed) return;
        RequestRetrieve(TcpUploadReason.HardwareFailure);
        HardwareFailed = true;
        _engine.PostEvent(this, TcpOffloadEventType.Abort, 0);
        MarkDirty();
    }

    public void HandleEvents(TcpEvents events)
    {
        if ((events & TcpEvents.PeerClosed) != 0) _peerFinSeen = true;
        if ((events & TcpEvents.Reset) != 0 && !ResetReceived && !AbortRequested)
        {
            ResetReceived = true;
            if (_countedEstablished) _engine.Stats(IsIpv6).Tcp.AddResetEstablished();
            _engine.PostEvent(this, TcpOffloadEventType.Abort, 0);
            FailSends(NdisStatus.RequestAborted);
            FailPosts(NdisStatus.RequestAborted);
            if (_disconnectNbl is { } nbl)
            {
                _disconnectNbl = null;
                CompleteDisconnect(nbl, NdisStatus.RequestAborted, _disconnectBytes);
            }
        }
        if ((events & (TcpEvents.RetransmitTimeout | TcpEvents.KeepAliveTimeout | TcpEvents.PersistTimeout | TcpEvents.FinWait2Timeout)) != 0)
        {
            if ((events & TcpEvents.KeepAliveTimeout) != 0) ClosedByUpload = true; // spec §9.7: keep-alive failure uploads CLOSED
            RequestRetrieve(TcpUploadReason.TimeoutExpiration);
        }
        if ((events & TcpEvents.TimeWaitEntered) != 0) RequestRetrieve(TcpUploadReason.UploadRequested);
        if ((events & TcpEvents.UrgentDataReceived) != 0) RequestRetrieve(TcpUploadReason.ReceivedUrgentData);
        if ((events & TcpEvents.ReachabilityInDoubt) != 0) _engine.ForceReachabilityQuery(Path.Neighbor);
    }

    /// <summary>Everything after input, a request or a timer: events, delivery, output, completions, backlog.</summary>
    public void Service(Instant now)
    {
        if (Terminated) return;
        var events = Machine.TakeEvents();
        if (events != TcpEvents.None) HandleEvents(events);
        Deliver(now);
        if (CanTransmit || ResetAllowed)
        {
            _engine.Transmit(this, now);
            events = Machine.TakeEvents();
            if (events != TcpEvents.None) HandleEvents(events);
        }
        CheckDisconnectCompletion();
        CheckDropRate();
        TrackEstablished();
        UpdateBacklog(now);
        FlushCompletions();
    }

    private void TrackEstablished()
    {
        bool established = !ResetReceived && !AbortRequested && Machine.State is TcpState.Established or TcpState.CloseWait;
        if (established == _countedEstablished) return;
        _countedEstablished = established;
        if (established) _engine.Stats(IsIpv6).Tcp.IncrementCurrentlyEstablished();
        else _engine.Stats(IsIpv6).Tcp.DecrementCurrentlyEstablished();
    }

    /// <summary>Leaves the established count at upload.</summary>
    public void UncountEstablished()
    {
        if (!_countedEstablished) return;
        _countedEstablished = false;
        _engine.Stats(IsIpv6).Tcp.DecrementCurrentlyEstablished();
    }

    // Spec §5: the target asks for about two of what it can have in flight (min of congestion and peer window: the
    // spec's "min(BDP, peer window)"), at least two segments, and says so when that changes by a quarter or more, at
    // most once per SendBacklogEventInterval.
    private void UpdateBacklog(Instant now)
    {
        int mss = Machine.EffectiveMss;
        long window = Math.Min(Machine.CWnd, Machine.SndWnd);
        uint backlog = (uint)Math.Clamp(2 * window, 2L * mss, _engine.Options.MaxSendBacklog);
        if (_backlog == 0)
        {
            _backlog = backlog;
            return;
        }
        uint diff = backlog > _backlog ? backlog - _backlog : _backlog - backlog;
        if (diff < _backlog / 4 || diff < (uint)mss) return;
        // (MinValue = never sent; subtracting it would overflow.)
        if (_backlogEventAt != Instant.MinValue && now - _backlogEventAt < _engine.Options.SendBacklogEventInterval) return;
        if (RefusalStatus() != NdisStatus.Success) return;
        _backlog = backlog;
        _backlogEventAt = now;
        _engine.PostEvent(this, TcpOffloadEventType.SendBacklogChange, backlog);
    }

    public void FlushCompletions()
    {
        FlushSendCompletions();
        FlushReceiveCompletions();
        if (_forwardDoneHead is { } forwards)
        {
            _forwardDoneHead = _forwardDoneTail = null;
            _engine.PostForwardComplete(forwards);
        }
    }

    /// <summary>Posts the batched send completions now (before anything that must follow them, e.g. the disconnect's).</summary>
    private void FlushSendCompletions()
    {
        if (_sendDoneHead is not { } sends) return;
        _sendDoneHead = _sendDoneTail = null;
        _engine.PostSendComplete(sends);
    }

    /// <summary>Posts the completed receive posts now: whatever the host hears next about this connection's receive
    /// side (an indication, the disconnect) must come after the bytes they hold (spec §3 ordering).</summary>
    private void FlushReceiveCompletions()
    {
        if (_receiveDoneHead is not { } receives) return;
        _receiveDoneHead = _receiveDoneTail = null;
        _engine.PostReceiveComplete(receives);
    }

    /// <summary>Terminate: completes every pending request of the connection (spec §6.6 step 1).</summary>
    public void CompletePendingForUpload()
    {
        var status = HardwareFailed || ResetReceived || AbortRequested ? NdisStatus.RequestAborted : NdisStatus.UploadInProgress;
        if (HardwareFailed) FailSends(NdisStatus.RequestAborted);
        // TerminateSendDisposition.Complete: the sends not fully acknowledged complete now, the first with its ACKed
        // bytes (spec §5, §10 row 14), before the disconnect's completion; arrivals are no longer processed, so SndUna
        // is final. Otherwise they are returned in the block (TakeUnacknowledgedSends).
        // A graceful disconnect still pending completes here, and spec §6.1 wants every earlier send completed before it:
        // with one pending the sends complete too (as with Complete) rather than come back in the block after it.
        else if (_engine.Options.TerminateSends == TerminateSendDisposition.Complete || _disconnectNbl is not null) FailSends(status);
        FailPostsAtUpload(status);
        if (_disconnectNbl is { } nbl)
        {
            _disconnectNbl = null;
            int acked = _disconnectDataAcked ? _disconnectBytes : 0;
            CompleteDisconnect(nbl, status, acked);
        }
        FlushCompletions();
    }

    public void MarkDirty() => _engine.MarkDirty(this);

    /// <summary>The engine loop that owns the connection (<see cref="LoopHash"/>).</summary>
    public int Owner => _engine.Index;

    public override string ToString()
        => $"tcp ctx 0x{Context:x} {Key.Local}:{Key.LocalPort} <> {Key.Remote}:{Key.RemotePort} {Machine.State}";
}
