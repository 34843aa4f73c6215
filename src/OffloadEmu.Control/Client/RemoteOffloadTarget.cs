using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Protocol;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Client;

/// <summary>
/// The client side of the control protocol: an <see cref="IOffloadTarget"/> that forwards every request to a
/// <see cref="Server.ControlServer"/> over its Unix domain socket and calls the bound <see cref="IOffloadHost"/> for
/// completions and indications on its own dispatch queue (never on the socket reader, never inside a request).
/// </summary>
/// <remarks>
/// Requests return PENDING (ReceiveReturn is synchronous and local). SetParameters and the statistics OIDs wait for the
/// server's answer. SendFrame checks the length locally and returns SUCCESS; the server's own refusal (RESOURCES,
/// a full transmit ring) is counted by the target, not reported back. Receive indications and posts follow
/// docs/control.md: the client owns the delivery order of received bytes.
/// </remarks>
public sealed class RemoteOffloadTarget : IOffloadTarget, IDisposable, IAsyncDisposable
{
    private readonly MessageConnection _connection;
    private readonly RemoteOffloadTargetOptions _options;
    private readonly CompletionQueue _dispatch;
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<ControlMessage>> _replies = new();
    private readonly ConcurrentDictionary<ulong, (OffloadBlock Root, MessageType Type)> _stateCalls = new();
    // Every NBL the server holds, by the id the client gave it, with the callback that completes it. Removing an entry
    // claims the NBL: whoever removes it (a completion, a terminate's return, the loss of the server) completes it, so
    // nothing completes twice, even when the session closes under a request being issued.
    private readonly ConcurrentDictionary<ulong, OutstandingNbl> _nbls = new();
    private readonly ConditionalWeakTable<NetBufferList, StrongBox<ulong>> _nblIds = new();
    private readonly Dictionary<ulong, RxConnection> _rxByContext = new();  // dispatch queue only
    private readonly Dictionary<ulong, RxConnection> _rxByHandle = new();   // dispatch queue only
    private readonly Func<NetBufferList, ulong> _sendIds;
    private readonly Func<NetBufferList, ulong> _forwardIds;
    private readonly Func<NetBufferList, ulong> _disconnectIds;
    private readonly Action<object?> _process;
    private IOffloadHost? _host;
    private Task? _receiveLoop;
    private long _lastRequestId;
    private long _lastNblId;
    private int _closed;
    private TcpConnectionOffloadCapabilities _current;
    private Exception? _dispatchError;

    private RemoteOffloadTarget(Socket socket, RemoteOffloadTargetOptions options)
    {
        _options = options;
        _connection = new MessageConnection(socket, options.MaxMessageSize, long.MaxValue);
        _dispatch = new CompletionQueue(ex => _dispatchError ??= ex);
        _sendIds = nbl => IdOf(nbl, IoKind.Send);
        _forwardIds = nbl => IdOf(nbl, IoKind.Forward);
        _disconnectIds = nbl => IdOf(nbl, IoKind.Disconnect);
        _process = Process;
        _current = new TcpConnectionOffloadCapabilities();
        HardwareCapabilities = _current;
    }

    /// <summary>Connects to the server at <paramref name="path"/> and performs the hello.</summary>
    /// <exception cref="ControlProtocolException">The server refused the hello (version, magic).</exception>
    public static RemoteOffloadTarget Connect(string path, RemoteOffloadTargetOptions? options = null)
        => ConnectAsync(path, options).GetAwaiter().GetResult();

    /// <summary>Connects to the server at <paramref name="path"/> and performs the hello.</summary>
    public static async Task<RemoteOffloadTarget> ConnectAsync(string path, RemoteOffloadTargetOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new RemoteOffloadTargetOptions();
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path.StartsWith('@') ? "\0" + path[1..] : path), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var client = new RemoteOffloadTarget(socket, options);
        try
        {
            await client.HelloAsync().ConfigureAwait(false);
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return client;
    }

    private async Task HelloAsync()
    {
        _connection.StartSending();
        _receiveLoop = Task.Run(ReceiveLoopAsync);
        var reply = await RequestAsync(new HelloMessage { ClientName = _options.ClientName, Role = _options.Role }).ConfigureAwait(false);
        var hello = reply as HelloReplyMessage ?? throw new ControlProtocolException(ProtocolError.OutOfOrder, $"expected a hello reply, got {reply.Type}");
        _current = hello.Current;
        HardwareCapabilities = hello.Hardware;
        ProtocolVersion = hello.Version;
        // Version 2: a state request too big for one message goes in fragments.
        if (hello.Version >= ControlProtocol.FragmentVersion) _connection.FragmentType = MessageType.Fragment;
        MacAddress = hello.MacAddress;
        Mtu = hello.Mtu;
    }

    /// <summary>The protocol version the server agreed to in its hello reply.</summary>
    public ushort ProtocolVersion { get; private set; }

    /// <summary>State requests sent in fragments so far (docs/control.md, fragmented messages).</summary>
    public long FragmentedRequests => _connection.FragmentedMessages;

    /// <summary>Dispatch items run on the receive thread (<see cref="RemoteOffloadTargetOptions.InlineHostCallbacks"/>; tests).</summary>
    internal long InlineDispatches => _dispatch.RanByCaller;

    /// <summary>Completions received in fragments so far (reader thread; tests).</summary>
    internal long FragmentedCompletions { get; private set; }

    /// <summary>True until the connection to the server is lost or closed.</summary>
    public bool IsConnected => Volatile.Read(ref _closed) == 0;

    /// <summary>The error the server closed the connection with, if any.</summary>
    public ProtocolError? CloseError { get; private set; }

    /// <summary>The server's reason text, or why the connection ended.</summary>
    public string? CloseReason { get; private set; }

    /// <summary>The first exception a host callback threw on the dispatch queue (the queue goes on).</summary>
    public Exception? DispatchError => _dispatchError;

    // ---- IOffloadTarget: properties and synchronous OIDs -------------------------------------------------------------

    /// <inheritdoc/>
    public void Bind(IOffloadHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (Interlocked.CompareExchange(ref _host, host, null) is not null) throw new InvalidOperationException("A host is already bound.");
    }

    /// <inheritdoc/>
    public TcpConnectionOffloadCapabilities CurrentCapabilities => Volatile.Read(ref _current);

    /// <inheritdoc/>
    public TcpConnectionOffloadCapabilities HardwareCapabilities { get; private set; }

    /// <inheritdoc/>
    public MacAddress MacAddress { get; private set; }

    /// <inheritdoc/>
    public int Mtu { get; private set; }

    /// <inheritdoc/>
    public NdisStatus SetParameters(OffloadParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return Request(new SetParametersMessage { Parameters = parameters }) is StatusReplyMessage s ? s.Status : NdisStatus.Failure;
    }

    /// <inheritdoc/>
    public NdisStatus SendFrame(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 14 || frame.Length > Mtu + 14 + 4) return NdisStatus.Failure;
        return _connection.SendBlob(MessageType.SendFrame, 0, frame) ? NdisStatus.Success : NdisStatus.Failure;
    }

    /// <inheritdoc/>
    public TcpOffloadStatisticsSnapshot QueryTcpStatistics(bool ipv6)
        => Request(new QueryStatisticsMessage { Ipv6 = ipv6 }) is StatisticsReplyMessage s ? s.Tcp : default;

    /// <inheritdoc/>
    public IpOffloadStatisticsSnapshot QueryIpStatistics(bool ipv6)
        => Request(new QueryStatisticsMessage { Ipv6 = ipv6 }) is StatisticsReplyMessage s ? s.Ip : default;

    /// <summary>A status snapshot of the daemon (QueryStatus, docs/control.md) listing at most
    /// <paramref name="maxConnections"/> connections.</summary>
    /// <exception cref="IOException">The connection is closed or was lost.</exception>
    /// <exception cref="ControlProtocolException">The server answered with an error.</exception>
    /// <exception cref="TimeoutException">No answer within the request timeout.</exception>
    public async Task<Status.StatusSnapshot> QueryStatusAsync(int maxConnections = 4096, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxConnections);
        var reply = await RequestAsync(new QueryStatusMessage { MaxConnections = (uint)maxConnections })
            .WaitAsync(_options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        return reply is StatusInfoMessage info ? info.Snapshot : throw new ControlProtocolException(ProtocolError.OutOfOrder, $"expected a status reply, got {reply.Type}");
    }

    /// <summary>The target's parameters in effect (QueryParameters, docs/control.md); null when the connection is closed
    /// or no reply came within the request timeout.</summary>
    public TargetParameters? QueryParameters()
        => Request(new QueryParametersMessage()) is ParametersReplyMessage p ? p.Parameters : null;

    /// <inheritdoc/>
    public void ResetStatistics(bool ipv6) => Request(new ResetStatisticsMessage { Ipv6 = ipv6 });

    // The thread the last message was read on (InlineHostCallbacks: a synchronous request from it could never see its reply).
    private int _readerThread;

    private ControlMessage? Request(ControlMessage message)
    {
        if (_options.InlineHostCallbacks && Environment.CurrentManagedThreadId == Volatile.Read(ref _readerThread))
            throw new InvalidOperationException(
                "A synchronous control request from a host callback running on the control receive thread (InlineHostCallbacks) would wait for a reply only that thread can read.");
        try
        {
            return RequestAsync(message).WaitAsync(_options.RequestTimeout).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or ControlProtocolException)
        {
            return null;
        }
    }

    private Task<ControlMessage> RequestAsync(ControlMessage message)
    {
        message.RequestId = NextRequestId();
        var tcs = new TaskCompletionSource<ControlMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        _replies[message.RequestId] = tcs;
        if (!_connection.Send(message))
        {
            _replies.TryRemove(message.RequestId, out _);
            tcs.TrySetException(new IOException("The control connection is closed."));
        }
        return tcs.Task;
    }

    private ulong NextRequestId() => (ulong)Interlocked.Increment(ref _lastRequestId);

    private ulong IdOf(NetBufferList nbl, IoKind kind)
    {
        var box = _nblIds.GetValue(nbl, static _ => new StrongBox<ulong>(0));
        if (box.Value == 0)
        {
            box.Value = (ulong)Interlocked.Increment(ref _lastNblId);
            _nbls[box.Value] = new OutstandingNbl(nbl, kind);
        }
        return box.Value;
    }

    /// <summary>Claims the NBL the server names by <paramref name="id"/>: false when it is not (or no longer) outstanding.</summary>
    private bool TryClaim(ulong id, out NetBufferList nbl)
    {
        if (_nbls.TryRemove(id, out var entry))
        {
            nbl = entry.Nbl;
            _nblIds.Remove(nbl);
            return true;
        }
        nbl = null!;
        return false;
    }

    private void ForgetId(NetBufferList nbl)
    {
        if (_nblIds.TryGetValue(nbl, out var box))
        {
            _nbls.TryRemove(box.Value, out _);
            _nblIds.Remove(nbl);
        }
    }

    /// <summary>What completes an outstanding NBL: a send (an initiate's outstanding data too: the target completes it
    /// as a send once the initiate succeeded), a forward or a disconnect.</summary>
    private enum IoKind : byte
    {
        Send,
        Forward,
        Disconnect,
    }

    private readonly record struct OutstandingNbl(NetBufferList Nbl, IoKind Kind);

    private IOffloadHost Host => _host ?? throw new InvalidOperationException("Bind a host before making requests.");

    // ---- IOffloadTarget: state operations ----------------------------------------------------------------------------

    /// <inheritdoc/>
    public NdisStatus InitiateOffload(OffloadBlock root) => IssueState(MessageType.InitiateOffload, root);

    /// <inheritdoc/>
    public NdisStatus TerminateOffload(OffloadBlock root) => IssueState(MessageType.TerminateOffload, root);

    /// <inheritdoc/>
    public NdisStatus UpdateOffload(OffloadBlock root) => IssueState(MessageType.UpdateOffload, root);

    /// <inheritdoc/>
    public NdisStatus InvalidateOffload(OffloadBlock root) => IssueState(MessageType.InvalidateOffload, root);

    /// <inheritdoc/>
    public NdisStatus QueryOffloadState(OffloadBlock root) => IssueState(MessageType.QueryOffloadState, root);

    private NdisStatus IssueState(MessageType type, OffloadBlock root)
    {
        ArgumentNullException.ThrowIfNull(root);
        _ = Host;
        var message = new StateRequestMessage(type) { Root = root, RequestId = NextRequestId(), Ids = _sendIds };
        // A state tree carries NBL chains (an initiate: the connection's unacknowledged send data and buffered receive
        // data). Above the message size it goes in fragments (protocol version 2, docs/control.md); above what a
        // fragmented message may hold, or to a server that cannot take fragments, it is refused here, the whole tree
        // RESOURCES, so the host keeps the connection and the session lives on (the server would close it Oversized).
        // Counted without ids: an id given to an NBL that is never sent could be completed by the loss of the server.
        long length = new StateRequestMessage(type) { Root = root }.PayloadLength();
        if (length > _connection.MaxMessageSize && (_connection.FragmentType == 0 || length > ControlProtocol.MaxFragmentedMessageSize))
        {
            OffloadTree.SetStatus(root, NdisStatus.Resources);
            _dispatch.Schedule(_ => CompleteState(type, root), null);
            return NdisStatus.Pending;
        }
        _stateCalls[message.RequestId] = (root, type);
        // Not sent (the session is closed): completed here, unless the loss of the server claimed it first.
        if (!_connection.Send(message) && _stateCalls.TryRemove(message.RequestId, out _)) FailTree(type, root);
        return NdisStatus.Pending;
    }

    private void FailTree(MessageType type, OffloadBlock root)
    {
        OffloadTree.SetStatus(root, NdisStatus.Failure);
        for (var nbl = FirstChain(root); nbl is not null; nbl = nbl.Next) ForgetId(nbl);
        _dispatch.Schedule(_ => CompleteState(type, root), null);
    }

    private void CompleteState(MessageType type, OffloadBlock root)
    {
        var host = Host;
        switch (type)
        {
            case MessageType.InitiateOffload: host.InitiateOffloadComplete(root); break;
            case MessageType.TerminateOffload: host.TerminateOffloadComplete(root); break;
            case MessageType.UpdateOffload: host.UpdateOffloadComplete(root); break;
            case MessageType.InvalidateOffload: host.InvalidateOffloadComplete(root); break;
            default: host.QueryOffloadStateComplete(root); break;
        }
    }

    private static NetBufferList? FirstChain(OffloadBlock root)
    {
        foreach (var v in OffloadTree.Traverse(root))
            if (v.Block.NetBufferListChain is { } c) return c;
        return null;
    }

    // ---- IOffloadTarget: I/O -----------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public NdisStatus TcpOffloadSend(ulong context, NetBufferList chain) => IssueIo(MessageType.TcpSend, context, chain, TcpDisconnectFlags.None);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadForward(ulong context, NetBufferList chain) => IssueIo(MessageType.TcpForward, context, chain, TcpDisconnectFlags.None);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadDisconnect(ulong context, NetBufferList nbl, TcpDisconnectFlags flags)
        => IssueIo(MessageType.TcpDisconnect, context, nbl, flags);

    /// <inheritdoc/>
    /// <remarks>Posts stay with the client (docs/control.md, indications): the server takes every byte the target has
    /// for the connection as an indication, and the client fills the host's posts from that stream in order.</remarks>
    public NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        _ = Host;
        int count = 0;
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            nbl.TcpOffloadBytesTransferred = 0;
            count++;
        }
        // The chain itself goes to the dispatch queue (the target owns its links until each NBL completes), in a work
        // item taken from a small pool: a post allocates nothing.
        var work = RentPostsWork();
        work.Context = context;
        work.Head = chain;
        work.Count = count;
        _dispatch.Schedule(_process, work);
        return NdisStatus.Pending;
    }

    private NdisStatus IssueIo(MessageType type, ulong context, NetBufferList chain, TcpDisconnectFlags flags)
    {
        ArgumentNullException.ThrowIfNull(chain);
        _ = Host;
        if (type == MessageType.TcpDisconnect) return IssueOne(type, context, chain, flags);
        // A send or forward chain goes in as many messages as the control protocol's message size and chain length
        // need: the target owns the NBLs (and their links) until it completes them, and completes each on its own, so
        // cutting the chain changes nothing the host sees. One NBL too big for any message is completed at once with
        // RESOURCES instead of closing the session (the server would refuse the oversized frame).
        int limit = _connection.MaxMessageSize - MessageHeadroom;
        for (var head = chain; head is not null;)
        {
            long size = EncodedSize(head);
            if (size > limit)
            {
                var rest = head.Next;
                head.Next = null;
                head.Status = NdisStatus.Resources;
                head.TcpOffloadBytesTransferred = 0;
                var single = head;
                _dispatch.Schedule(_ => CompleteIo(type == MessageType.TcpSend ? MessageType.TcpSendComplete : MessageType.TcpForwardComplete, single), null);
                head = rest;
                continue;
            }
            var tail = head;
            int count = 1;
            while (tail.Next is { } next && count < ControlProtocol.MaxChainLength)
            {
                long nextSize = EncodedSize(next);
                if (size + nextSize > limit) break;
                size += nextSize;
                tail = next;
                count++;
            }
            var after = tail.Next;
            tail.Next = null;
            IssueOne(type, context, head, flags);
            head = after;
        }
        return NdisStatus.Pending;
    }

    /// <summary>Room left in a message for its header, the context and the chain count.</summary>
    private const int MessageHeadroom = 1024;

    /// <summary>An NBL's size on the wire in data mode, rounded up (ids, status, counts, one length per NB).</summary>
    private static long EncodedSize(NetBufferList nbl)
    {
        long size = 64;
        for (int i = 0; i < nbl.BufferCount; i++) size += 8 + nbl[i].DataLength;
        return size;
    }

    private NdisStatus IssueOne(MessageType type, ulong context, NetBufferList chain, TcpDisconnectFlags flags)
    {
        var ids = type switch { MessageType.TcpSend => _sendIds, MessageType.TcpForward => _forwardIds, _ => _disconnectIds };
        var message = new IoRequestMessage(type) { Context = context, Chain = chain, Flags = flags, Ids = ids };
        if (!_connection.SendDeferred(message))
        {
            // No server: the host takes the work back (spec §3, §4, §6.1).
            var nbls = new List<NetBufferList>();
            for (var nbl = chain; nbl is not null; nbl = type == MessageType.TcpDisconnect ? null : nbl.Next) nbls.Add(nbl);
            foreach (var nbl in nbls)
            {
                ForgetId(nbl);
                nbl.Status = NdisStatus.RequestAborted;
                nbl.TcpOffloadBytesTransferred = 0;
            }
            _dispatch.Schedule(_ => CompleteIo(type switch
            {
                MessageType.TcpSend => MessageType.TcpSendComplete,
                MessageType.TcpForward => MessageType.TcpForwardComplete,
                _ => MessageType.TcpDisconnectComplete,
            }, chain), null);
        }
        return NdisStatus.Pending;
    }

    /// <inheritdoc/>
    public NdisStatus TcpOffloadReceiveReturn(NetBufferList chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            switch (nbl.ProtocolReserved)
            {
                case ClientNblTag tag: tag.Release(); break;
                case RentedBuffer rented: rented.Release(); break;
            }
            nbl.ProtocolReserved = null;
            nbl = next;
        }
        return NdisStatus.Success;
    }

    // ---- the reader ----------------------------------------------------------------------------------------------------

    private async Task ReceiveLoopAsync()
    {
        ProtocolError? error = null;
        string reason = "server closed the connection";
        try
        {
            await _connection.ReceiveLoopAsync(OnMessage).ConfigureAwait(false);
            if (_fragments.InProgress) throw MessageReader.Malformed("connection closed inside a fragmented message");
        }
        catch (ControlProtocolException ex)
        {
            error = ex.Error;
            reason = ex.Message;
        }
        catch (Exception ex)
        {
            error = ProtocolError.Internal;
            reason = ex.Message;
        }
        if (CloseError is null && error is not null)
        {
            CloseError = error;
            CloseReason = reason;
        }
        CloseReason ??= reason;
        _fragments.Release();
        OnConnectionLost();
    }

    private bool OnMessage(MessageType type, ulong requestId, ReadOnlySequence<byte> payload)
    {
        _readerThread = Environment.CurrentManagedThreadId;
        if (ControlMessage.IsClientToServer(type)) throw new ControlProtocolException(ProtocolError.UnknownType, $"server sent a request type {type}");
        if (type == MessageType.ServerFragment)
        {
            if (_connection.FragmentType == 0)
                throw new ControlProtocolException(ProtocolError.UnknownType, $"ServerFragment needs protocol version {ControlProtocol.FragmentVersion}; this session speaks {ProtocolVersion}");
            if (!_fragments.Add(requestId, payload, out var inner, out var whole)) return true;
            try
            {
                FragmentedCompletions++;
                return OnWholeMessage(inner, requestId, whole);
            }
            finally
            {
                _fragments.Release();
            }
        }
        _fragments.CheckNotInterrupted(type);
        return OnWholeMessage(type, requestId, payload);
    }

    // Only completions come in fragments (a terminate returning more undelivered receive data than one message holds).
    private readonly FragmentAssembler _fragments = new(static type => type == MessageType.StateComplete);

    private bool OnWholeMessage(MessageType type, ulong requestId, ReadOnlySequence<byte> payload)
    {
        var message = ControlMessage.Decode(type, requestId, payload);
        if (Trace is { } trace) lock (trace) trace.Add("R " + Describe(message));
        switch (message)
        {
            case ErrorMessage error:
                CloseError = error.Code;
                CloseReason = error.Text;
                foreach (var pending in _replies.Values) pending.TrySetException(new ControlProtocolException(error.Code, error.Text));
                return false;
            case HelloReplyMessage or StatusReplyMessage or StatisticsReplyMessage or ParametersReplyMessage or StatusInfoMessage:
                if (_replies.TryRemove(requestId, out var tcs)) tcs.TrySetResult(message);
                return true;
            default:
                if (_options.InlineHostCallbacks) _dispatch.RunOrSchedule(_process, message);
                else _dispatch.Schedule(_process, message);
                return true;
        }
    }

    // ---- the dispatch queue ------------------------------------------------------------------------------------------

    /// <summary>A host's receive posts on their way to the dispatch queue (pooled: <see cref="RentPostsWork"/>).</summary>
    private sealed class PostsWork
    {
        public ulong Context;
        public NetBufferList? Head;
        public int Count;
    }

    private readonly Lock _postsWorkLock = new();
    private readonly PostsWork?[] _postsWorkPool = new PostsWork?[16];
    private int _postsWorkFree;

    private PostsWork RentPostsWork()
    {
        lock (_postsWorkLock)
        {
            if (_postsWorkFree > 0)
            {
                var work = _postsWorkPool[--_postsWorkFree]!;
                _postsWorkPool[_postsWorkFree] = null;
                return work;
            }
        }
        return new PostsWork();
    }

    private void ReturnPostsWork(PostsWork work)
    {
        work.Head = null;
        lock (_postsWorkLock)
        {
            if (_postsWorkFree < _postsWorkPool.Length) _postsWorkPool[_postsWorkFree++] = work;
        }
    }

    private sealed record LostWork;

    /// <summary>Diagnostics for tests: when set, every message read ("R …") and every dispatch item ("D …") in order.</summary>
    internal List<string>? Trace { get; set; }

    private static string Describe(object? m) => m switch
    {
        ReceiveIndicateMessage i => $"I{i.Data?.Length}",
        ReceiveCompleteMessage c => "C" + string.Join("+", c.Entries.Select(e => e.Data.Length)),
        PostsWork p => $"P{p.Count}",
        _ => m?.GetType().Name ?? "null",
    };

    private void Process(object? work)
    {
        if (Trace is { } trace) lock (trace) trace.Add("D " + Describe(work));
        switch (work)
        {
            case PostsWork posts: OnPosts(posts); break;
            case LostWork: FailEverything(); break;
            case StateCompleteMessage state: OnStateComplete(state); break;
            case IoCompleteMessage io: OnIoComplete(io); break;
            case ReceiveCompleteMessage receive: OnReceiveComplete(receive); break;
            case ReceiveIndicateMessage indicate: OnIndicate(indicate); break;
            case TcpEventMessage ev: OnTcpEvent(ev); break;
            case NeighborEventMessage neighbor:
                Host.NeighborOffloadEvent(neighbor.Block, neighbor.Code);
                break;
            case AdapterStatusMessage status:
                Volatile.Write(ref _current, status.Capabilities);
                Host.IndicateStatus(status.Status);
                break;
            case FrameMessage frame:
                try
                {
                    Host.ReceiveFrame(frame.Span);
                }
                finally
                {
                    frame.Release();
                }
                break;
        }
    }

    private RxConnection Rx(ulong context)
    {
        if (!_rxByContext.TryGetValue(context, out var rx))
        {
            rx = new RxConnection(context, 0);
            _rxByContext[context] = rx;
        }
        return rx;
    }

    private void OnStateComplete(StateCompleteMessage message)
    {
        if (!_stateCalls.TryRemove(message.RequestId, out var call))
        {
            message.Release();
            return;
        }
        var root = call.Root;
        var hostBlocks = OffloadTree.Traverse(root).Select(v => v.Block).ToList();
        var wireBlocks = OffloadTree.Traverse(message.Root).Select(v => v.Block).ToList();
        bool copyState = message.Operation is StateOperation.Query or StateOperation.Terminate;
        for (int i = 0; i < hostBlocks.Count; i++)
        {
            var h = hostBlocks[i];
            var d = i < wireBlocks.Count ? wireBlocks[i] : null;
            if (d is null)
            {
                h.Status = NdisStatus.Failure;
                continue;
            }
            h.Status = d.Status;
            if (h.MiniportOffloadContext is { } slot && d.MiniportOffloadContext is { } wireSlot) slot.Context = wireSlot.Context;
            if (copyState)
            {
                if (d.NeighborConst is not null) h.NeighborConst = d.NeighborConst;
                if (d.NeighborCached is not null) h.NeighborCached = d.NeighborCached;
                if (d.NeighborDelegated is not null) h.NeighborDelegated = d.NeighborDelegated;
                if (d.PathConst is not null) h.PathConst = d.PathConst;
                if (d.PathCached is not null) h.PathCached = d.PathCached;
                if (d.PathDelegated is not null) h.PathDelegated = d.PathDelegated;
                if (d.TcpConst is not null) h.TcpConst = d.TcpConst;
                if (d.TcpCached is not null) h.TcpCached = d.TcpCached;
            }
            switch (message.Operation)
            {
                case StateOperation.Initiate when h.Layer == OffloadLayer.Tcp:
                    if (OffloadTree.IsOffloaded(h.Status) && h.MiniportOffloadContext is { HasContext: true } s)
                    {
                        var rx = Rx(s.Context);
                        rx.Handle = h.NdisOffloadHandle;
                        rx.Offloaded = true;
                        _rxByHandle[rx.Handle] = rx;
                    }
                    else
                    {
                        // Spec §2: the NBLs of a failed block are neither modified nor completed; the host keeps them.
                        for (var nbl = h.NetBufferListChain; nbl is not null; nbl = nbl.Next) ForgetId(nbl);
                    }
                    break;
                case StateOperation.Terminate or StateOperation.Query when d.TcpDelegated is { } wd:
                    ApplyDelegated(h, d, wd, message.Operation == StateOperation.Terminate);
                    break;
            }
        }
        var host = Host;
        switch (message.Operation)
        {
            case StateOperation.Initiate: host.InitiateOffloadComplete(root); break;
            case StateOperation.Terminate: host.TerminateOffloadComplete(root); break;
            case StateOperation.Update: host.UpdateOffloadComplete(root); break;
            case StateOperation.Invalidate: host.InvalidateOffloadComplete(root); break;
            default: host.QueryOffloadStateComplete(root); break;
        }
    }

    private void ApplyDelegated(OffloadBlock h, OffloadBlock d, TcpDelegatedState wd, bool terminate)
    {
        var state = h.TcpDelegated ?? new TcpDelegatedState();
        var buffered = wd.BufferedData;
        wd.BufferedData = null;
        var copy = wd with { };
        copy.SendDataHead = null;
        copy.SendDataTail = null;
        copy.BufferedData = null;
        // Copy the values field by field onto the host's own record (it may hold references to it).
        CopyDelegated(copy, state);
        h.TcpDelegated = state;
        if (!terminate)
        {
            WireCodec.ReleaseChain(buffered);
            return;
        }
        // Returned send data: the host's own NBLs, in order, each NB advanced as the target advanced the copy.
        NetBufferList? head = null, tail = null;
        var list = new List<NetBufferList>();
        foreach (var r in d.Scratch as List<NblRef> ?? [])
        {
            if (!TryClaim(r.Id, out var nbl)) continue;
            ApplyRef(nbl, r);
            nbl.Next = null;
            NetBufferListChain.Append(ref head, ref tail, nbl);
            list.Add(nbl);
        }
        h.NetBufferListChain = head;
        var (headIndex, tailIndex) = d.MiniportReserved is ValueTuple<int, int> t ? t : (-1, -1);
        state.SendDataHead = headIndex >= 0 && headIndex < list.Count ? list[headIndex] : null;
        state.SendDataTail = tailIndex >= 0 && tailIndex < list.Count ? list[tailIndex] : null;
        // Undelivered receive data: the bytes this client still held come first, then the target's (spec §6.6).
        ulong context = h.MiniportOffloadContext?.Context ?? 0;
        NetBufferList? bufferedHead = null, bufferedTail = null;
        if (_rxByContext.Remove(context, out var rx))
        {
            _rxByHandle.Remove(rx.Handle);
            FailHostPosts(rx, NdisStatus.UploadInProgress);
            if (rx.HeldBytes > 0)
            {
                var bytes = PooledBytes.Rent((int)rx.HeldBytes);
                int at = 0;
                foreach (var chunk in rx.Held)
                {
                    chunk.Bytes.Span.Slice(chunk.Offset, chunk.Remaining).CopyTo(bytes.Span[at..]);
                    at += chunk.Remaining;
                }
                NetBufferListChain.Append(ref bufferedHead, ref bufferedTail, WrapBytes(bytes));
            }
            rx.Clear();
        }
        for (var nbl = buffered; nbl is not null;)
        {
            var next = nbl.Next;
            nbl.Next = null;
            NetBufferListChain.Append(ref bufferedHead, ref bufferedTail, nbl); // ProtocolReserved = RentedBuffer
            nbl = next;
        }
        state.BufferedData = bufferedHead;
    }

    private static void CopyDelegated(TcpDelegatedState from, TcpDelegatedState to)
    {
        to.State = from.State; to.Flags = from.Flags; to.RcvNxt = from.RcvNxt; to.RcvWnd = from.RcvWnd; to.SndUna = from.SndUna;
        to.SndNxt = from.SndNxt; to.SndMax = from.SndMax; to.SndWnd = from.SndWnd; to.MaxSndWnd = from.MaxSndWnd; to.SendWL1 = from.SendWL1;
        to.CWnd = from.CWnd; to.SsThresh = from.SsThresh; to.SRtt = from.SRtt; to.RttVar = from.RttVar; to.TsRecent = from.TsRecent;
        to.TsRecentAge = from.TsRecentAge; to.TsTime = from.TsTime; to.TotalRT = from.TotalRT; to.DupAckCount = from.DupAckCount;
        to.SndWndProbeCount = from.SndWndProbeCount; to.KeepAlive = from.KeepAlive; to.Retransmit = from.Retransmit;
        to.SendBacklogSize = from.SendBacklogSize; to.ReceiveBacklogSize = from.ReceiveBacklogSize; to.DWnd = from.DWnd;
        to.SendDataHead = null; to.SendDataTail = null; to.BufferedData = null;
    }

    private static NetBufferList WrapBytes(PooledBytes bytes)
    {
        var nbl = new NetBufferList(1, 1) { ProtocolReserved = new ClientNblTag(bytes, null), Status = NdisStatus.Success };
        nbl.AddBuffer().AddWritableSegment(bytes.Memory);
        return nbl;
    }

    private static void ApplyRef(NetBufferList nbl, NblRef r)
    {
        nbl.Status = r.Status;
        nbl.TcpOffloadBytesTransferred = r.BytesTransferred;
        for (int i = 0; i < nbl.BufferCount && i < r.Advance.Length; i++)
        {
            var nb = nbl[i];
            int advance = Math.Min(r.Advance[i], nb.DataLength);
            nb.Advance(advance);
        }
    }

    private void OnIoComplete(IoCompleteMessage message)
    {
        NetBufferList? head = null, tail = null;
        foreach (var r in message.Nbls)
        {
            if (!TryClaim(r.Id, out var nbl)) continue;
            ApplyRef(nbl, r);
            nbl.Next = null;
            if (message.Type == MessageType.TcpDisconnectComplete)
            {
                Host.TcpOffloadDisconnectComplete(nbl);
                continue;
            }
            NetBufferListChain.Append(ref head, ref tail, nbl);
        }
        if (head is not null) CompleteIo(message.Type, head);
    }

    private void CompleteIo(MessageType type, NetBufferList chain)
    {
        var host = Host;
        switch (type)
        {
            case MessageType.TcpSendComplete: host.TcpOffloadSendComplete(chain); break;
            case MessageType.TcpForwardComplete: host.TcpOffloadForwardComplete(chain); break;
            default:
                for (var nbl = chain; nbl is not null;)
                {
                    var next = nbl.Next;
                    nbl.Next = null;
                    host.TcpOffloadDisconnectComplete(nbl);
                    nbl = next;
                }
                break;
        }
    }

    // ---- receive: posts, shadow completions, indications (docs/control.md) -------------------------------------------

    private void OnPosts(PostsWork work)
    {
        ulong context = work.Context;
        var chain = work.Head;
        ReturnPostsWork(work);
        NetBufferList? refused = null, tail = null;
        if (!_rxByContext.TryGetValue(context, out var rx) || !rx.Offloaded || rx.Aborted || rx.DisconnectIndicated)
        {
            // Not an offloaded connection of this client (REQUEST_ABORTED, as the target answers an unknown context),
            // after an abort (REQUEST_ABORTED) or after the peer's FIN was indicated (INVALID_STATE, spec §3).
            var status = rx is { DisconnectIndicated: true, Aborted: false } ? NdisStatus.InvalidState : NdisStatus.RequestAborted;
            for (var nbl = chain; nbl is not null;)
            {
                var next = nbl.Next;
                nbl.Status = status;
                nbl.Next = null;
                NetBufferListChain.Append(ref refused, ref tail, nbl);
                nbl = next;
            }
            Host.TcpOffloadReceiveComplete(refused!);
            return;
        }
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            nbl.Next = null;
            rx.Posts.Enqueue(new RxPost(nbl));
            nbl = next;
        }
        rx.Refused = false; // any post, zero-byte included, re-arms indications (spec §3)
        // Bytes already waiting were pushed by the target when it indicated them: a push-mode post they partly fill
        // completes now (there is no push timer here to complete it later, docs/control.md).
        Deliver(rx, pushPoint: true, error: null);
    }

    private void OnReceiveComplete(ReceiveCompleteMessage message)
    {
        foreach (var entry in message.Entries)
        {
            var rx = Rx(entry.Context);
            rx.Append(new HeldChunk(entry.Data, credited: false));
            Deliver(rx, pushPoint: true, error: entry.Status == NdisStatus.Success ? null : entry.Status);
        }
    }

    private void OnIndicate(ReceiveIndicateMessage message)
    {
        if (!_rxByHandle.TryGetValue(message.Handle, out var rx))
        {
            message.Release();
            return;
        }
        rx.Append(new HeldChunk(message.Data!, credited: true));
        Deliver(rx, pushPoint: true, error: null);
    }

    private void OnTcpEvent(TcpEventMessage message)
    {
        if (message.EventType == TcpOffloadEventType.Disconnect && _rxByHandle.TryGetValue(message.Handle, out var rx) && rx.HeldBytes > 0)
        {
            // Spec §6.2: the FIN is indicated only after every byte before it was consumed; some are still here.
            rx.DisconnectPending = true;
            return;
        }
        if (message.EventType == TcpOffloadEventType.Abort && _rxByHandle.TryGetValue(message.Handle, out var aborted))
        {
            // Spec §6.2: after an acceptable RST pending receives complete REQUEST_ABORTED (with the bytes placed).
            aborted.Aborted = true;
            FailHostPosts(aborted, NdisStatus.RequestAborted);
        }
        if (message.EventType == TcpOffloadEventType.Disconnect && _rxByHandle.TryGetValue(message.Handle, out var closing)) closing.DisconnectIndicated = true;
        Host.TcpOffloadEvent(message.Handle, message.EventType, message.Info);
    }

    /// <summary>
    /// Moves held bytes to the host in order: into its posts (FIFO), else as one indication when it has no post and has
    /// not refused; a target completion or an indication is a push point for a partly filled push-mode post. A failed
    /// shadow (UPLOAD_IN_PROGRESS, REQUEST_ABORTED, INVALID_STATE) fails the oldest host post the same way.
    /// </summary>
    private void Deliver(RxConnection rx, bool pushPoint, NdisStatus? error)
    {
        var host = Host;
        NetBufferList? done = null, doneTail = null;
        long credited = 0;
        while (rx.Posts.TryPeek(out var post))
        {
            // A zero-byte post consumes nothing and completes at once (spec §3); others fill from the held bytes.
            if (post.Room > 0) credited += rx.FillPost(post);
            if (post.Room == 0)
            {
                rx.Posts.Dequeue();
                post.Nbl.Status = NdisStatus.Success;
                post.Nbl.Next = null;
                NetBufferListChain.Append(ref done, ref doneTail, post.Nbl);
                continue;
            }
            break;
        }
        if (rx.Posts.TryPeek(out var partial))
        {
            bool placed = partial.Nbl.TcpOffloadBytesTransferred > 0;
            if (error is { } status)
            {
                rx.Posts.Dequeue();
                partial.Nbl.Status = placed && status == NdisStatus.UploadInProgress ? NdisStatus.Success : status;
                partial.Nbl.Next = null;
                NetBufferListChain.Append(ref done, ref doneTail, partial.Nbl);
            }
            else if (pushPoint && placed && !partial.Nbl.TcpReceiveNoPush && rx.HeldBytes == 0)
            {
                rx.Posts.Dequeue();
                partial.Nbl.Status = NdisStatus.Success;
                partial.Nbl.Next = null;
                NetBufferListChain.Append(ref done, ref doneTail, partial.Nbl);
            }
        }
        if (done is not null) host.TcpOffloadReceiveComplete(done);
        if (rx.Posts.Count == 0 && rx.HeldBytes > 0 && !rx.Refused && rx.Offloaded) credited += IndicateHeld(rx, host);
        if (rx.DisconnectPending && rx.HeldBytes == 0)
        {
            rx.DisconnectPending = false;
            rx.DisconnectIndicated = true;
            host.TcpOffloadEvent(rx.Handle, TcpOffloadEventType.Disconnect, 0);
        }
        rx.Unreported += credited;
        if (rx.Unreported > 0 && (rx.Unreported >= _options.ConsumedReportBytes || rx.HeldBytes == 0))
        {
            _connection.SendDeferred(new ReceiveConsumedMessage { Context = rx.Context, Bytes = (uint)Math.Min(rx.Unreported, uint.MaxValue) });
            rx.Unreported = 0;
        }
    }

    private long IndicateHeld(RxConnection rx, IOffloadHost host)
    {
        // One NBL over everything held: the one chunk itself when there is one (no copy), else one coalesced copy.
        HeldChunk? single = rx.Held.Count == 1 && rx.Held.Peek().Offset == 0 ? rx.Held.Peek() : null;
        PooledBytes bytes;
        if (single is not null)
        {
            bytes = single.Bytes;
        }
        else
        {
            bytes = PooledBytes.Rent((int)rx.HeldBytes);
            int at = 0;
            foreach (var chunk in rx.Held)
            {
                chunk.Bytes.Span.Slice(chunk.Offset, chunk.Remaining).CopyTo(bytes.Span[at..]);
                at += chunk.Remaining;
            }
        }
        // Tagged before the call: a host may return the NBL from inside its handler.
        var nbl = new NetBufferList(1, 1) { Status = NdisStatus.Success, ProtocolReserved = new ClientNblTag(bytes, null) };
        nbl.AddBuffer().AddWritableSegment(bytes.Memory);
        int length = bytes.Length;
        var answer = host.TcpOffloadReceiveIndicate(rx.Handle, nbl, NdisStatus.Success, out int consumed);
        if (answer == NdisStatus.Success)
        {
            // The host owns the NBL until ReceiveReturn; the bytes go back to the pool then.
            long credited = 0;
            foreach (var chunk in rx.Held)
            {
                if (chunk.Credited) credited += chunk.Remaining;
                if (!ReferenceEquals(chunk, single)) chunk.Bytes.Release();
            }
            rx.Held.Clear();
            rx.HeldBytes = 0;
            return credited;
        }
        nbl.ProtocolReserved = null;
        if (single is null) bytes.Release();
        rx.Refused = true; // no new indication until a post (spec §3)
        if (answer == NdisStatus.OffloadDataPartiallyAccepted && consumed > 0 && consumed < length) return rx.Consume(consumed);
        return 0;
    }

    private void FailHostPosts(RxConnection rx, NdisStatus status)
    {
        NetBufferList? done = null, tail = null;
        while (rx.Posts.TryDequeue(out var post))
        {
            post.Nbl.Status = post.Nbl.TcpOffloadBytesTransferred > 0 && status == NdisStatus.UploadInProgress ? NdisStatus.Success : status;
            post.Nbl.Next = null;
            NetBufferListChain.Append(ref done, ref tail, post.Nbl);
        }
        if (done is not null) Host.TcpOffloadReceiveComplete(done);
    }

    // ---- losing the server -------------------------------------------------------------------------------------------

    private void OnConnectionLost()
    {
        // Not connected from before the socket closes: a server that closed the session waits for this end's close
        // (its stop returns after it), and by then IsConnected reads false.
        bool first = Interlocked.Exchange(ref _closed, 1) == 0;
        // The socket next: from here every Send returns false, so a request issued from now on fails on its own path,
        // and one that was queued before is registered (its state call or NBL ids) before FailEverything looks.
        _connection.Abort();
        if (!first) return; // disposed by its owner (or lost already)
        foreach (var pending in _replies.Values) pending.TrySetException(new IOException("The control connection is closed."));
        _replies.Clear();
        if (_host is not null) _dispatch.Schedule(_process, new LostWork());
    }

    // The target is gone: a hardware failure of the whole NIC (spec §6.6). Runs once, on the dispatch queue, after
    // every message the reader had handed over; the socket is already closed, so nothing new reaches the server and
    // every request issued from now on fails on its own path. Order, as a local target's hardware-corrupt path:
    // Retrieve(HardwareFailure) and Abort per offloaded connection, its posts and I/O REQUEST_ABORTED, then the state
    // operations FAILURE (a terminate completes after its connection's I/O), then ADAPTER_REMOVED once, last.
    private void FailEverything()
    {
        var host = Host;
        // A pending initiate's outstanding sends stay the host's, untouched (spec §2): claimed here so that they are
        // not completed as sends below.
        foreach (var call in _stateCalls.Values)
        {
            if (call.Type != MessageType.InitiateOffload) continue;
            foreach (var v in OffloadTree.Traverse(call.Root))
                for (var nbl = v.Block.NetBufferListChain; nbl is not null; nbl = nbl.Next) ForgetId(nbl);
        }
        foreach (var rx in _rxByContext.Values)
        {
            if (rx.Offloaded)
            {
                host.TcpOffloadEvent(rx.Handle, TcpOffloadEventType.Retrieve, (uint)TcpUploadReason.HardwareFailure);
                host.TcpOffloadEvent(rx.Handle, TcpOffloadEventType.Abort, 0);
            }
            FailHostPosts(rx, NdisStatus.RequestAborted);
            rx.Clear();
        }
        _rxByContext.Clear();
        _rxByHandle.Clear();
        // Sends, forwards and disconnects the server held, each through its own callback, in the order issued.
        var outstanding = _nbls.ToArray();
        Array.Sort(outstanding, static (a, b) => a.Key.CompareTo(b.Key));
        NetBufferList? sends = null, sendsTail = null, forwards = null, forwardsTail = null;
        foreach (var (id, _) in outstanding)
        {
            if (!_nbls.TryRemove(id, out var entry)) continue;
            var nbl = entry.Nbl;
            _nblIds.Remove(nbl);
            nbl.Status = NdisStatus.RequestAborted;
            nbl.TcpOffloadBytesTransferred = 0;
            nbl.Next = null;
            switch (entry.Kind)
            {
                case IoKind.Send: NetBufferListChain.Append(ref sends, ref sendsTail, nbl); break;
                case IoKind.Forward: NetBufferListChain.Append(ref forwards, ref forwardsTail, nbl); break;
                default: host.TcpOffloadDisconnectComplete(nbl); break;
            }
        }
        if (sends is not null) host.TcpOffloadSendComplete(sends);
        if (forwards is not null) host.TcpOffloadForwardComplete(forwards);
        var calls = _stateCalls.Keys.ToArray();
        Array.Sort(calls);
        foreach (var id in calls)
        {
            if (!_stateCalls.TryRemove(id, out var call)) continue;
            OffloadTree.SetStatus(call.Root, NdisStatus.Failure);
            CompleteState(call.Type, call.Root);
        }
        host.IndicateStatus(NdisStatus.AdapterRemoved);
    }

    /// <summary>Tests: the socket dies under the client (as when the daemon is killed); the loss is then handled as any.</summary>
    internal void CloseTransportForTest() => _connection.Abort();

    // ---- disposal ----------------------------------------------------------------------------------------------------

    /// <summary>Closes the connection (the server aborts and terminates what this client left offloaded).</summary>
    public async ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _closed, 1);
        await _connection.CloseAsync(null, TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
        if (_receiveLoop is { } loop)
        {
            try
            {
                await loop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc cref="DisposeAsync"/>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
