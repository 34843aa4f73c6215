using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Server;

/// <summary>
/// One client of the <see cref="ControlServer"/>: reads its messages, issues its requests to the target with its own
/// handles, sends it its completions and indications, and touches only the objects it offloaded (docs/control.md).
/// </summary>
internal sealed class ControlSession
{
    private static long s_lastId;

    private readonly TargetMultiplexer _mux;
    private readonly ControlServerOptions _options;
    private readonly ILogger? _logger;
    private readonly MessageConnection _connection;
    private readonly ConcurrentDictionary<ulong, HandleEntry> _byContext = new();
    private readonly Lock _stateLock = new();
    private int _pendingStateOps;
    private readonly Lock _cleanupLock = new();
    private volatile bool _closed;
    private bool _helloDone;
    private ushort _version;

    /// <summary>The protocol version the session speaks (from its hello; 0 before it).</summary>
    internal ushort Version => _version;

    private readonly FragmentAssembler _fragments = new(IsFragmentable);

    public ControlSession(TargetMultiplexer mux, MessageConnection connection, ControlServerOptions options, ILogger? logger)
    {
        _mux = mux;
        _connection = connection;
        _options = options;
        _logger = logger;
        Id = Interlocked.Increment(ref s_lastId);
        connection.Overflowed = () => _ = CloseAsync(ProtocolError.TooSlow, $"client read too slowly: more than {options.MaxQueuedBytes} bytes queued");
    }

    public long Id { get; }

    public string Name { get; private set; } = "";

    /// <summary>Host, or a monitor that may only query (set by the hello).</summary>
    public ClientRole Role { get; private set; }

    public bool IsClosed => _closed;

    /// <summary>Objects this session has offloaded now.</summary>
    public int ObjectCount => _byContext.Count;

    /// <summary>Completes when the session has closed and every object it offloaded was terminated.</summary>
    public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override string ToString() => $"session {Id} '{Name}'";

    // ---- the read side -----------------------------------------------------------------------------------------------

    public async Task RunAsync()
    {
        _connection.StartSending();
        using var helloTimer = new Timer(_ =>
        {
            if (!_helloDone) _ = CloseAsync(ProtocolError.OutOfOrder, "no hello in time");
        }, null, _options.HelloTimeout, Timeout.InfiniteTimeSpan);
        var readCheck = TimeSpan.FromTicks(Math.Min(_options.ReadTimeout.Ticks / 4, TimeSpan.TicksPerSecond));
        using var readTimer = new Timer(_ => CheckReadTimeout(), null, readCheck, readCheck);
        try
        {
            await _connection.ReceiveLoopAsync(Handle).ConfigureAwait(false);
            if (_fragments.InProgress) throw MessageReader.Malformed("connection closed inside a fragmented message");
            await CloseAsync(null, "client closed").ConfigureAwait(false);
        }
        catch (ControlProtocolException ex)
        {
            await CloseAsync(ex.Error, ex.Message).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (_logger is not null) ControlLog.SessionFailed(_logger, ToString(), ex);
            await CloseAsync(ProtocolError.Internal, ex.Message).ConfigureAwait(false);
        }
        finally
        {
            _fragments.Release(); // a sequence cut by the close
        }
    }

    // A client that started a message after its hello and stopped sending it would hold its session (a MaxSessions
    // slot, its objects) for ever: past ReadTimeout it is closed and cleaned up like a client that disappeared.
    private void CheckReadTimeout()
    {
        long since = _connection.PartialMessageSince;
        if (_closed || !_helloDone || since == 0) return;
        long age = Environment.TickCount64 - since;
        long limit = (long)_options.ReadTimeout.TotalMilliseconds;
        if (age < limit) return;
        if (_logger is not null) ControlLog.SessionStalled(_logger, ToString(), age, limit);
        _ = CloseAsync(ProtocolError.TooSlow, $"stalled mid-message for {age} ms (read timeout {limit} ms)");
    }

    private bool Handle(MessageType type, ulong requestId, ReadOnlySequence<byte> payload)
    {
        if (_closed) return false;
        if (!ControlMessage.IsClientToServer(type) || !Enum.IsDefined(type))
            throw new ControlProtocolException(ProtocolError.UnknownType, $"message type {(ushort)type} is not a request");
        if (!_helloDone && type != MessageType.Hello) throw new ControlProtocolException(ProtocolError.OutOfOrder, $"{type} before the hello");
        if (_helloDone && type == MessageType.Hello) throw new ControlProtocolException(ProtocolError.OutOfOrder, "second hello");
        if (type == MessageType.Fragment)
        {
            if (Role == ClientRole.Monitor) throw new ControlProtocolException(ProtocolError.NotPermitted, "Fragment from a monitor session: a monitor may only query");
            if (_version < ControlProtocol.FragmentVersion)
                throw new ControlProtocolException(ProtocolError.UnknownType, $"Fragment needs protocol version {ControlProtocol.FragmentVersion}; this session speaks {_version}");
            if (!_fragments.Add(requestId, payload, out var inner, out var whole)) return !_closed;
            try
            {
                return HandleWhole(inner, requestId, whole);
            }
            finally
            {
                _fragments.Release();
            }
        }
        _fragments.CheckNotInterrupted(type);
        return HandleWhole(type, requestId, payload);
    }

    // Fragments carry only state requests (an initiate with more send and receive data than one message holds).
    private static bool IsFragmentable(MessageType type) => type is >= MessageType.InitiateOffload and <= MessageType.QueryOffloadState;

    private bool HandleWhole(MessageType type, ulong requestId, ReadOnlySequence<byte> payload)
    {
        var message = ControlMessage.Decode(type, requestId, payload);
        bool owned = false;
        try
        {
            owned = Dispatch(message);
        }
        finally
        {
            if (!owned) message.Release();
        }
        return !_closed;
    }

    // Returns true when the message's pooled buffers now belong to the target (released at completion).
    private bool Dispatch(ControlMessage message)
    {
        var target = _mux.Target;
        if (Role == ClientRole.Monitor && message is not (HelloMessage or QueryStatusMessage or QueryStatisticsMessage or QueryParametersMessage))
            throw new ControlProtocolException(ProtocolError.NotPermitted, $"{message.Type} from a monitor session: a monitor may only query");
        switch (message)
        {
            case QueryStatusMessage status:
                _ = StatusResponder.AnswerAsync(this, _mux, _options, status);
                return false;
            case HelloMessage hello:
                if (hello.Magic != ControlProtocol.Magic) throw new ControlProtocolException(ProtocolError.BadMagic, $"bad magic 0x{hello.Magic:x8}");
                if (hello.Version is < ControlProtocol.MinVersion or > ControlProtocol.Version)
                    throw new ControlProtocolException(ProtocolError.VersionMismatch,
                        $"version {hello.Version} not supported; this server speaks {ControlProtocol.MinVersion} to {ControlProtocol.Version}");
                Name = hello.ClientName;
                Role = hello.Role;
                _version = hello.Version;
                _helloDone = true;
                Send(new HelloReplyMessage
                {
                    RequestId = message.RequestId, Version = _version, Current = target.CurrentCapabilities, Hardware = target.HardwareCapabilities,
                    MacAddress = target.MacAddress, Mtu = target.Mtu,
                });
                // Version 2: a completion too big for one message (a terminate's returned receive data) goes in fragments.
                if (_version >= ControlProtocol.FragmentVersion) _connection.FragmentType = MessageType.ServerFragment;
                // A monitor is not bound: it gets no adapter status and no frames, only its replies.
                if (Role == ClientRole.Host) _mux.Add(this);
                if (_logger is not null) ControlLog.SessionStarted(_logger, ToString());
                return false;
            case SetParametersMessage set:
                Send(new StatusReplyMessage { RequestId = message.RequestId, Status = target.SetParameters(set.Parameters) });
                return false;
            case QueryStatisticsMessage query:
                Send(new StatisticsReplyMessage { RequestId = message.RequestId, Tcp = target.QueryTcpStatistics(query.Ipv6), Ip = target.QueryIpStatistics(query.Ipv6) });
                return false;
            case QueryParametersMessage:
                Send(new ParametersReplyMessage
                {
                    RequestId = message.RequestId,
                    Parameters = _options.ParametersSource?.Invoke() ?? new TargetParameters { Status = NdisStatus.NotSupported },
                });
                return false;
            case ResetStatisticsMessage reset:
                target.ResetStatistics(reset.Ipv6);
                Send(new StatusReplyMessage { RequestId = message.RequestId, Status = NdisStatus.Success });
                return false;
            case FrameMessage frame:
                target.SendFrame(frame.Span); // RESOURCES/FAILURE = dropped and counted by the target (docs/control.md)
                return false;
            case StateRequestMessage state:
                return IssueState(state.Operation, message.RequestId, state.Root, cleanup: false);
            case IoRequestMessage io:
                return IssueIo(io);
            case ReceiveConsumedMessage consumed:
                OnConsumed(consumed.Context, consumed.Bytes);
                return false;
            default:
                throw new ControlProtocolException(ProtocolError.UnknownType, $"{message.Type} is not a request");
        }
    }

    // ---- state operations --------------------------------------------------------------------------------------------

    private bool IssueState(StateOperation op, ulong requestId, OffloadBlock root, bool cleanup)
    {
        var call = new ServerCall(this, requestId, op, cleanup);
        bool foreign = false;
        foreach (var visit in OffloadTree.Traverse(root))
        {
            var block = visit.Block;
            HandleEntry? entry = null;
            bool isNew = false;
            switch (block.Role)
            {
                case OffloadBlockRole.NewOffload:
                    if (op != StateOperation.Initiate) { foreign = true; break; }
                    entry = _mux.NewEntry(this, block.NdisOffloadHandle, block.Type);
                    isNew = true;
                    break;
                case OffloadBlockRole.Linker:
                    if (!_byContext.TryGetValue(block.MiniportOffloadContext!.Context, out entry)) foreign = true;
                    break;
            }
            call.Blocks.Add((block, block.NdisOffloadHandle, entry, isNew));
            // Send data handed over at initiate completes through SendComplete: tag it like any send.
            for (var nbl = block.NetBufferListChain; nbl is not null; nbl = nbl.Next)
                nbl.ProtocolReserved = new ServerNbl(this, 0, nbl.ProtocolReserved as RentedBuffer);
        }
        if (foreign)
        {
            // A context this session did not offload (another client's, or none), or a new-offload block outside an
            // initiate: nothing goes down; every block fails (the client sees FAILURE, the other session is untouched).
            foreach (var (block, _, entry, isNew) in call.Blocks)
            {
                block.Status = NdisStatus.Failure;
                if (isNew && entry is not null) _mux.RemoveEntry(entry);
            }
            SendStateComplete(call, root);
            WireCodec.ReleaseTree(root);
            return true;
        }
        foreach (var (block, _, entry, _) in call.Blocks)
        {
            block.NdisOffloadHandle = entry?.ServerHandle ?? 0;
            if (op == StateOperation.Terminate && entry is not null) entry.TearingDown = true;
        }
        root.ImReserved = call;
        lock (_stateLock) _pendingStateOps++;
        var target = _mux.Target;
        try
        {
            _ = op switch
            {
                StateOperation.Initiate => target.InitiateOffload(root),
                StateOperation.Terminate => target.TerminateOffload(root),
                StateOperation.Update => target.UpdateOffload(root),
                StateOperation.Invalidate => target.InvalidateOffload(root),
                _ => target.QueryOffloadState(root),
            };
        }
        catch
        {
            lock (_stateLock) _pendingStateOps--;
            foreach (var (block, clientHandle, entry, isNew) in call.Blocks)
            {
                block.NdisOffloadHandle = clientHandle;
                if (isNew && entry is not null) _mux.RemoveEntry(entry);
                if (entry is not null) entry.TearingDown = false;
            }
            root.ImReserved = null;
            throw;
        }
        return true;
    }

    /// <summary>The target completed a tree this session issued (any thread of the target's completion scheduler).</summary>
    public void OnStateComplete(ServerCall call, OffloadBlock root)
    {
        foreach (var (block, clientHandle, entry, isNew) in call.Blocks)
        {
            block.NdisOffloadHandle = clientHandle;
            if (entry is null) continue;
            if (call.Operation == StateOperation.Terminate)
            {
                // Terminate frees the object whatever its status (FAILURE = state lost, spec §6.6).
                _byContext.TryRemove(entry.Context, out _);
                _mux.RemoveEntry(entry);
            }
            else if (isNew)
            {
                var slot = block.MiniportOffloadContext!;
                if (OffloadTree.IsOffloaded(block.Status) && slot.HasContext)
                {
                    entry.Context = slot.Context;
                    _byContext[slot.Context] = entry;
                }
                else
                {
                    _mux.RemoveEntry(entry);
                    // NBLs of a failed TCP block are neither modified nor completed (spec §2): the client keeps its own.
                    for (var nbl = block.NetBufferListChain; nbl is not null; nbl = nbl.Next) (nbl.ProtocolReserved as ServerNbl)?.Release();
                }
            }
        }
        if (!call.Cleanup && !_closed) SendStateComplete(call, root);
        if (call.Operation == StateOperation.Terminate)
        {
            foreach (var visit in OffloadTree.Traverse(root))
            {
                // Returned send data went to the client by reference; undelivered receive data with its bytes.
                for (var nbl = visit.Block.NetBufferListChain; nbl is not null; nbl = nbl.Next) (nbl.ProtocolReserved as ServerNbl)?.Release();
                if (visit.Block.TcpDelegated?.BufferedData is { } buffered)
                {
                    visit.Block.TcpDelegated.BufferedData = null;
                    _mux.ReturnNow(buffered);
                }
            }
        }
        else if (call.Operation == StateOperation.Initiate)
        {
            // The host's buffered bytes were copied by the target at initiate (spec §3).
            foreach (var visit in OffloadTree.Traverse(root))
                if (visit.Block.TcpDelegated?.BufferedData is { } buffered) WireCodec.ReleaseChain(buffered);
        }
        lock (_stateLock) _pendingStateOps--;
        MaybeCleanup();
    }

    private void SendStateComplete(ServerCall call, OffloadBlock root)
        => Send(new StateCompleteMessage { RequestId = call.RequestId, Operation = call.Operation, Root = root });

    // ---- I/O ---------------------------------------------------------------------------------------------------------

    private bool IssueIo(IoRequestMessage io)
    {
        NdisStatus refusal = NdisStatus.Success;
        if (!_byContext.TryGetValue(io.Context, out var entry) || entry.Layer() != OffloadLayer.Tcp) refusal = NdisStatus.RequestAborted;
        else if (entry.TearingDown) refusal = NdisStatus.UploadInProgress;
        for (var nbl = io.Chain; nbl is not null; nbl = nbl.Next)
            nbl.ProtocolReserved = new ServerNbl(this, io.Context, nbl.ProtocolReserved as RentedBuffer);
        if (refusal != NdisStatus.Success)
        {
            // Not this session's connection (or no longer offloaded): completed here, the target never sees it.
            var list = new List<NetBufferList>();
            for (var nbl = io.Chain; nbl is not null;)
            {
                var next = nbl.Next;
                nbl.Next = null;
                nbl.Status = refusal;
                nbl.TcpOffloadBytesTransferred = 0;
                list.Add(nbl);
                nbl = next;
            }
            OnIoComplete(io.Type switch
            {
                MessageType.TcpSend => MessageType.TcpSendComplete,
                MessageType.TcpReceive => MessageType.TcpReceiveComplete,
                MessageType.TcpForward => MessageType.TcpForwardComplete,
                _ => MessageType.TcpDisconnectComplete,
            }, list);
            return true;
        }
        var target = _mux.Target;
        _ = io.Type switch
        {
            MessageType.TcpSend => target.TcpOffloadSend(io.Context, io.Chain),
            MessageType.TcpReceive => target.TcpOffloadReceive(io.Context, io.Chain),
            MessageType.TcpForward => target.TcpOffloadForward(io.Context, io.Chain),
            _ => target.TcpOffloadDisconnect(io.Context, io.Chain, io.Flags),
        };
        return true;
    }

    /// <summary>Completed NBLs of this session, in completion order; their pooled bytes are released here.</summary>
    public void OnIoComplete(MessageType type, List<NetBufferList> nbls)
    {
        try
        {
            if (type == MessageType.TcpReceiveComplete)
            {
                var source = new List<(ulong, NetBufferList)>(nbls.Count);
                foreach (var nbl in nbls)
                {
                    var tag = (ServerNbl)nbl.ProtocolReserved!;
                    if (!tag.Internal) source.Add((tag.Context, nbl));
                }
                if (source.Count > 0 && !_closed) Send(new ReceiveCompleteMessage { Source = source });
                return;
            }
            // Encoded straight from the NBLs (no per-completion objects: this runs per message, possibly on the engine thread).
            int count = 0;
            foreach (var nbl in nbls)
                if (!NblCompleteMessage.IsInternal(nbl)) count++;
            if (count > 0 && !_closed)
            {
                var message = NblCompleteMessage.Rent(type, nbls, count);
                try
                {
                    Send(message);
                }
                finally
                {
                    message.Clear();
                }
            }
        }
        finally
        {
            foreach (var nbl in nbls) ((ServerNbl)nbl.ProtocolReserved!).Release();
        }
    }

    // ---- receive indications and credit ------------------------------------------------------------------------------

    /// <summary>Takes an indication for the client if its credit allows: the bytes are copied into the outgoing queue.</summary>
    public bool TryIndicate(HandleEntry entry, NetBufferList nbl, int length)
    {
        if (_closed) return false;
        lock (entry)
        {
            if (entry.Unconsumed + length > _options.MaxUnconsumedReceiveBytes && entry.Unconsumed > 0)
            {
                entry.Blocked = true;
                return false;
            }
            if (!_connection.SendDeferred(new ReceiveIndicateMessage { Handle = entry.ClientHandle, Source = nbl })) return false;
            entry.Unconsumed += length;
            return true;
        }
    }

    private void OnConsumed(ulong context, uint bytes)
    {
        if (!_byContext.TryGetValue(context, out var entry)) return; // late credit for a terminated connection
        bool rearm;
        lock (entry)
        {
            entry.Unconsumed = Math.Max(0, entry.Unconsumed - bytes);
            rearm = entry.Blocked && entry.Unconsumed <= _options.MaxUnconsumedReceiveBytes / 2;
            if (rearm) entry.Blocked = false;
        }
        if (rearm && !entry.TearingDown)
        {
            // Spec §3: after a refusal the target indicates again only after a post; a zero-byte post re-arms it.
            var post = new NetBufferList(1, 1) { ProtocolReserved = new ServerNbl(this, context, null, internalPost: true) };
            post.AddBuffer();
            _mux.Target.TcpOffloadReceive(context, post);
        }
    }

    /// <summary>The engine thread may encode a message of about <paramref name="bytes"/> for this session now: it is
    /// open and its socket is not behind (no write in progress or waiting for room, little queued), so the write at the
    /// end of the engine's round will not wait (TargetMultiplexer, engine-thread host).</summary>
    public bool CanWriteFromEngine(int bytes) => !_closed && _connection.CanWriteAtOnce(bytes);

    // ---- sending -----------------------------------------------------------------------------------------------------

    /// <summary>Queues a message for the client. I/O completions (sends, forwards, disconnects, receives; indications go
    /// through <see cref="TryIndicate"/>) queued on the target's completion worker or in the receive loop are written at
    /// the end of the drain or of the batch read, so what one frame causes goes out with one <c>sendmsg</c>
    /// (<see cref="MessageConnection.SendDeferred"/>); everything else (state completions, events, status, replies) is
    /// written at once, with whatever was deferred before it.</summary>
    public void Send(ControlMessage message)
    {
        if (_closed) return;
        try
        {
            if (message is NblCompleteMessage or IoCompleteMessage or ReceiveCompleteMessage) _connection.SendDeferred(message);
            else _connection.Send(message);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException or IOException)
        {
            Fail(ex); // the pipe went away under a racing close
        }
    }

    public void SendFrame(ReadOnlySpan<byte> frame)
    {
        if (_closed || !_helloDone) return;
        try
        {
            _connection.SendBlob(MessageType.ReceiveFrame, 0, frame);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException or IOException)
        {
            Fail(ex);
        }
    }

    /// <summary>An exception while serving a target callback for this session: logged, the session closed.</summary>
    public void Fail(Exception exception)
    {
        if (_logger is not null) ControlLog.SessionFailed(_logger, ToString(), exception);
        _ = CloseAsync(ProtocolError.Internal, exception.Message);
    }

    // ---- closing -----------------------------------------------------------------------------------------------------

    /// <summary>Closes the session (with an error message first when <paramref name="error"/> is set) and terminates
    /// every object it offloaded.</summary>
    public async Task CloseAsync(ProtocolError? error, string reason)
    {
        lock (_stateLock)
        {
            if (_closed) return;
            _closed = true;
        }
        _mux.Remove(this);
        if (_logger is not null) ControlLog.SessionClosed(_logger, ToString(), error?.ToString() ?? "none", reason);
        var last = error is { } code ? new ErrorMessage { Code = code, Text = reason } : null;
        MaybeCleanup();
        // A close the server starts (with a reason) waits, within the linger, for the client to read the reason and close
        // its end: when the server's stop returns, its clients know they were disconnected.
        await _connection.CloseAsync(last, TimeSpan.FromSeconds(1), awaitPeerClose: last is not null).ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Once closed and no state operation of the session is pending: abort and terminate what is left.</summary>
    private void MaybeCleanup()
    {
        lock (_cleanupLock) CleanupLocked();
    }

    private void CleanupLocked()
    {
        List<HandleEntry> entries;
        lock (_stateLock)
        {
            if (!_closed || _pendingStateOps > 0) return;
            entries = [.. _byContext.Values];
        }
        if (entries.Count == 0)
        {
            Finished.TrySetResult();
            return;
        }
        var target = _mux.Target;
        // Spec §6.1: the application is gone; its connections are reset (the only RST a target may send) ...
        foreach (var e in entries)
        {
            if (e.Layer() != OffloadLayer.Tcp || e.TearingDown) continue;
            var rst = new NetBufferList(1, 1) { ProtocolReserved = new ServerNbl(this, e.Context, null, internalPost: true) };
            rst.AddBuffer();
            target.TcpOffloadDisconnect(e.Context, rst, TcpDisconnectFlags.Abortive);
        }
        // ... then everything is uploaded in one tree: neighbours, paths, connections as one NextBlock chain (the target
        // frees dependents first, so this order lets every parent go too) and the state is dropped.
        OffloadBlock? head = null, tail = null;
        foreach (var layer in new[] { OffloadLayer.Neighbor, OffloadLayer.Path, OffloadLayer.Tcp })
        {
            foreach (var e in entries)
            {
                if (e.Layer() != layer || e.TearingDown) continue;
                var block = new OffloadBlock(e.Type) { MiniportOffloadContext = new OffloadContextSlot(e.Context), NdisOffloadHandle = e.ClientHandle };
                if (head is null) head = block;
                else tail!.NextBlock = block;
                tail = block;
            }
        }
        if (head is null) return;
        IssueState(StateOperation.Terminate, 0, head, cleanup: true);
    }
}
