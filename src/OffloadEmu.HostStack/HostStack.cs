using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>
/// The managed host stack above one chimney offload target: the interface (IPv4 address, prefix, gateway, optionally an
/// IPv6 address, prefix and gateway; MAC and MTU from the target), the non-offload path both ways, ARP and IPv6
/// neighbour discovery with one neighbour cache, ICMP and ICMPv6 echo, TCP connections (either family) run by the
/// TCP machine in host mode, and their offload, upload and re-offload through the chimney contract.
/// </summary>
/// <remarks>
/// One engine loop owns all state (architecture §3): either the caller drives it (<see cref="Poll"/> with its own
/// clock, <see cref="NextWake"/>) for deterministic tests, or <see cref="Start"/> runs it on a thread. Applications
/// and chimney callbacks post commands to an inbox; connection state is never locked.
/// </remarks>
public sealed partial class HostStack : IDisposable
{
    private readonly IOffloadTarget _target;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<HostCommand> _inbox = new();
    private readonly ConcurrentDictionary<ulong, HostConnection> _connectionHandles = new();
    private readonly ConcurrentDictionary<ulong, NeighborEntry> _neighborHandles = new();
    private readonly Dictionary<IpAddressValue, NeighborEntry> _neighbors = [];
    private readonly Dictionary<IpAddressValue, HostPath> _paths = [];
    private readonly Dictionary<ConnectionKey, HostConnection> _connections = [];
    private readonly List<HostConnection> _connectionList = [];
    // The connections that run a TCP machine in the host (handshakes, host mode, after an upload): the timer scan walks
    // these, not every connection (100,000 offloaded idle connections made each loop pass walk them all, issue 7).
    private readonly List<HostConnection> _withMachine = [];
    private readonly Dictionary<ushort, OffloadListener> _listeners = [];
    private readonly TcpFrameWriter _writer;
    private readonly byte[] _scratch = new byte[2048];
    private readonly SemaphoreSlim _wake = new(0);
    private readonly TcpConfig _tcpConfig;
    private readonly TcpConfig _tcpConfig6;
    private Instant _now;
    private int _portCounter;
    private ushort _ipId;
    private long _nextHandle = 0x1000;
    private Thread? _thread;
    private volatile bool _stop;
    private int _wakePending;
    private TimeProvider _time = TimeProvider.System;
    private long _timeOrigin;

    /// <summary>Creates the stack and binds it to <paramref name="target"/> (the target's host from now on).</summary>
    public HostStack(IOffloadTarget target, HostStackOptions options, ILogger? logger = null)
    {
        _logger = logger ?? NullLogger.Instance;
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join(" ", errors), nameof(options));
        _target = target;
        Options = options;
        MacAddress = target.MacAddress;
        Mtu = target.Mtu;
        // The host machine's MSS follows the interface MTU (IPv4 + TCP headers = 40 bytes).
        var mss = (ushort)Math.Min(options.Tcp.Mss, Math.Max(536, Mtu - 40));
        _tcpConfig = options.Tcp.WithOffloadParameters(options.OffloadParameters) with
        {
            Mss = mss,
            IsnGenerator = options.Tcp.IsnGenerator ?? IsnGenerator.CreateRandom(),
        };
        // IPv6 + TCP headers = 60 bytes; IPv6 links carry at least 1280 (RFC 8200 §5).
        _tcpConfig6 = _tcpConfig with { Mss = (ushort)Math.Min(options.Tcp.Mss, Math.Max(1220, Mtu - 60)) };
        if (options.Address6 != Ipv6Address.Unspecified) LinkLocalAddress6 = LinkLocalFromMac(MacAddress);
        Chunks = new SendChunkPool(options.SendChunkSize);
        _writer = new TcpFrameWriter(this);
        target.Bind(new ChimneyHost(this));
        var status = target.SetParameters(options.OffloadParameters);
        if (status != NdisStatus.Success)
            throw new ArgumentException($"The target refused the offload parameters ({status}).", nameof(options));
        _portCounter = options.EphemeralPortOffset ?? Random.Shared.Next(65536 - options.EphemeralPortStart);
        RegisterMetrics();
    }

    private static readonly System.Diagnostics.Metrics.Meter s_meter = new("OffloadEmu");
    private static int s_instances;

    /// <summary>The value of the <c>instance</c> tag on this stack's instruments (several stacks may share a process).</summary>
    public string MetricsInstance { get; } = "hoststack-" + Interlocked.Increment(ref s_instances).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private void RegisterMetrics()
    {
        // Observable instruments on Meter("OffloadEmu") (dotnet-counters): read when a listener asks, nothing on the hot
        // path. A weak reference lets a disposed stack be collected; its instruments then report nothing.
        var weak = new WeakReference<HostStack>(this);
        var tag = new KeyValuePair<string, object?>("instance", MetricsInstance);
        IEnumerable<System.Diagnostics.Metrics.Measurement<long>> Read(Func<HostStack, long> value)
            => weak.TryGetTarget(out var s) ? [new(value(s), tag)] : [];
        s_meter.CreateObservableGauge("offloademu.hoststack.connections", () => Read(s => s.ConnectionCount), "{connection}",
            "Connections the host stack holds (host mode, offloaded, moving)");
        s_meter.CreateObservableCounter("offloademu.hoststack.offloads", () => Read(s => s.Statistics.OffloadsSucceeded), "{offload}",
            "Connections offloaded to the target (initiates whose TCP block succeeded)");
        s_meter.CreateObservableCounter("offloademu.hoststack.offload_failures", () => Read(s => s.Statistics.OffloadsFailed), "{offload}",
            "Initiates whose TCP block failed (the connection stayed in host mode)");
        s_meter.CreateObservableCounter("offloademu.hoststack.uploads", () => Read(s => s.Statistics.Uploads), "{upload}",
            "Connections taken back from the target");
        s_meter.CreateObservableCounter("offloademu.hoststack.neighbor_invalidations", () => Read(s => s.Statistics.NeighborsInvalidated), "{neighbor}",
            "Offloaded neighbours invalidated after unanswered probes");
    }

    /// <summary>The options.</summary>
    public HostStackOptions Options { get; }

    /// <summary>The interface address.</summary>
    public Ipv4Address Address => Options.Address;

    /// <summary>The on-link prefix length.</summary>
    public int PrefixLength => Options.PrefixLength;

    /// <summary>The default gateway (unspecified = none).</summary>
    public Ipv4Address Gateway => Options.Gateway;

    /// <summary>The interface's IPv6 address (unspecified: IPv6 is off).</summary>
    public Ipv6Address Address6 => Options.Address6;

    /// <summary>The interface's IPv6 link-local address (fe80::/64, EUI-64 from the MAC; unspecified when IPv6 is off).</summary>
    public Ipv6Address LinkLocalAddress6 { get; }

    /// <summary>True when the interface has an IPv6 address.</summary>
    public bool Ipv6Enabled => Options.Address6 != Ipv6Address.Unspecified;

    /// <summary>The fe80::/64 address whose interface identifier is the modified EUI-64 of <paramref name="mac"/> (RFC 4291 appendix A).</summary>
    public static Ipv6Address LinkLocalFromMac(MacAddress mac)
    {
        ulong m = mac.ToUInt64();
        ulong high24 = (m >> 24) ^ 0x02_0000;   // the universal/local bit inverted
        ulong low24 = m & 0xFF_FFFF;
        return new Ipv6Address(0xFE80UL << 48, (high24 << 40) | (0xFFFEUL << 24) | low24);
    }

    /// <summary>The interface MAC address (the target's).</summary>
    public MacAddress MacAddress { get; }

    /// <summary>The interface MTU (the target's).</summary>
    public int Mtu { get; }

    /// <summary>Counters of the stack (engine-owned; read for diagnostics).</summary>
    public HostStackStatistics Statistics { get; } = new();

    internal SendChunkPool Chunks { get; }

    internal FrameBufferPool Frames { get; } = new();

    private readonly Ipv4Reassembler _reassembler = new();

    internal bool AsyncContinuations { get; private set; }

    /// <summary>Threaded mode with <see cref="HostStackOptions.DirectOffloadedIo"/>: offloaded I/O may bypass the loop.</summary>
    internal bool DirectIo { get; private set; }

    /// <summary>Threaded mode with <see cref="HostStackOptions.InlineReadCompletions"/>.</summary>
    internal bool InlineReads { get; private set; }

    internal TcpConfig TcpConfig => _tcpConfig;

    /// <summary>The host machines' configuration for a connection of this family (the MSS differs by 20 bytes).</summary>
    internal TcpConfig TcpConfigFor(HostConnection c) => c.IsIpv6 ? _tcpConfig6 : _tcpConfig;

    internal Instant Now => _now;

    // ---- running ------------------------------------------------------------------------------------------------------

    /// <summary>Manual mode: one engine round at <paramref name="now"/> (inbox, timers, transmissions); returns the work
    /// done (0 = idle). Application continuations run inline on the calling thread in manual mode.</summary>
    public int Poll(Instant now)
    {
        if (_thread is not null) throw new InvalidOperationException("Poll is for manual mode; the stack runs its own thread.");
        return RunOnce(now);
    }

    /// <summary>Manual mode: the earliest instant a timer needs <see cref="Poll"/> (Instant.MaxValue = none).</summary>
    public Instant NextWake
    {
        get
        {
            var next = Instant.MaxValue;
            if (_thread is null)
            {
                foreach (var c in _withMachine)
                    if (c.Location == ConnectionLocation.Host && c.Machine is { } m) next = Instant.Min(next, m.PollAt());
            }
            else
            {
                next = _timerScanAt; // no scan per wait (see RunConnectionTimers)
            }
            foreach (var n in _neighbors.Values) next = Instant.Min(next, n.NextRequestAt);
            next = Instant.Min(next, _reassembler.NextExpiry);
            return next;
        }
    }

    /// <summary>Runs the engine loop on its own thread, timed by <paramref name="time"/>; application continuations run
    /// on the thread pool.</summary>
    public void Start(TimeProvider? time = null)
    {
        if (_thread is not null) throw new InvalidOperationException("The host stack is already running.");
        _time = time ?? TimeProvider.System;
        _timeOrigin = _time.GetTimestamp();
        AsyncContinuations = true;
        DirectIo = Options.DirectOffloadedIo;
        InlineReads = Options.InlineReadCompletions;
        _thread = new Thread(Loop) { IsBackground = true, Name = "oe-hoststack" };
        _thread.Start();
    }

    private Instant ClockNow => Instant.FromMicroseconds(_time.GetElapsedTime(_timeOrigin).Ticks / 10);

    private void Loop()
    {
        while (!_stop)
        {
            Interlocked.Exchange(ref _wakePending, 0);
            if (RunOnce(ClockNow) > 0) continue;
            var next = NextWake;
            long waitUs = next == Instant.MaxValue ? 100_000 : Math.Clamp(next.Microseconds - ClockNow.Microseconds, 0, 100_000);
            if (waitUs > 0) _wake.Wait(TimeSpan.FromTicks(waitUs * 10));
        }
    }

    internal void Post(in HostCommand command)
    {
        if (_stop)
        {
            // Disposed: a target still running (its completion thread) may call in; nothing is processed any more.
            if (command.Kind == CommandKind.Frame) Frames.Return(command.Buffer!);
            return;
        }
        _inbox.Enqueue(command);
        if (_thread is null || _stop || Interlocked.Exchange(ref _wakePending, 1) != 0) return;
        try
        {
            _wake.Release();
        }
        catch (ObjectDisposedException)
        {
            // Disposed meanwhile: a target completion (e.g. the release terminate of a closed connection) can arrive
            // after the stack stopped; there is no loop left to run it.
        }
    }

    private int RunOnce(Instant now)
    {
        _now = now;
        Volatile.Write(ref _nowMicros, now.Microseconds);
        int work = 0;
        bool threaded = _thread is not null;
        while (_inbox.TryDequeue(out var command))
        {
            work++;
            // A round can take milliseconds on a busy machine; a frame that arrived during it is stamped with the time it
            // is handled (timers armed from it, RTT samples), not with the round's start (manual-clock mode keeps the
            // caller's time).
            if (threaded && work > 1)
            {
                _now = ClockNow;
                Volatile.Write(ref _nowMicros, _now.Microseconds);
            }
            Handle(command);
        }
        work += RunNeighborTimers();
        work += _reassembler.Expire(now);
        work += RunConnectionTimers();
        work += StartQueuedOffloads();
        return work;
    }

    private void Handle(in HostCommand c)
    {
        switch (c.Kind)
        {
            case CommandKind.Frame:
                try
                {
                    ReceiveFrame(c.Buffer.AsSpan(0, c.Length));
                }
                finally
                {
                    Frames.Return(c.Buffer!);
                }
                break;
            case CommandKind.Resolve:
                Resolve(c.Address, (TaskCompletionSource<MacAddress>)c.Object!);
                break;
            case CommandKind.Connect:
                StartConnect((HostConnection)c.Object!);
                break;
            case CommandKind.Listen:
                var listener = (OffloadListener)c.Object!;
                _listeners[listener.Port] = listener;
                if (_targetGoneError is not null) listener.Fail(TargetGoneError());
                break;
            case CommandKind.StopListen:
                var stopped = (OffloadListener)c.Object!;
                if (_listeners.TryGetValue(stopped.Port, out var current) && ReferenceEquals(current, stopped)) _listeners.Remove(stopped.Port);
                break;
            case CommandKind.Send:
                AppSend((HostConnection)c.Object!, (SendChunk)c.Extra!);
                break;
            case CommandKind.ReadRequested:
                AppRead((HostConnection)c.Object!);
                break;
            case CommandKind.Shutdown:
                AppShutdown((HostConnection)c.Object!, (TaskCompletionSource)c.Extra!, close: false);
                break;
            case CommandKind.Close:
                AppShutdown((HostConnection)c.Object!, (TaskCompletionSource)c.Extra!, close: true);
                break;
            case CommandKind.Abort:
                AppAbort((HostConnection)c.Object!);
                break;
            case CommandKind.Upload:
                AppUpload((HostConnection)c.Object!, (TaskCompletionSource)c.Extra!);
                break;
            case CommandKind.Offload:
                AppOffload((HostConnection)c.Object!, (TaskCompletionSource<bool>)c.Extra!);
                break;
            case CommandKind.InitiateComplete:
                OnInitiateComplete((OffloadBlock)c.Object!);
                break;
            case CommandKind.TerminateComplete:
                OnTerminateComplete((OffloadBlock)c.Object!);
                break;
            case CommandKind.SendComplete:
                OnSendComplete((NetBufferList)c.Object!);
                break;
            case CommandKind.ReceiveComplete:
                OnReceiveComplete((NetBufferList)c.Object!);
                break;
            case CommandKind.DisconnectComplete:
                OnDisconnectComplete((NetBufferList)c.Object!);
                break;
            case CommandKind.ForwardComplete:
                OnForwardComplete((NetBufferList)c.Object!);
                break;
            case CommandKind.TcpEvent:
                OnTcpEvent(c.Value, (TcpOffloadEventType)c.Length, c.Info);
                break;
            case CommandKind.ReceiveReturn:
                var nbl = (NetBufferList)c.Object!;
                nbl.Next = null;
                _target.TcpOffloadReceiveReturn(nbl);
                break;
            case CommandKind.UpdateComplete:
                OnUpdateComplete((OffloadBlock)c.Object!);
                break;
            case CommandKind.Describe:
                ((TaskCompletionSource<string>)c.Extra!).TrySetResult(Describe((HostConnection)c.Object!));
                break;
            case CommandKind.Statistics:
                AppStatistics((HostConnection)c.Object!, (TaskCompletionSource<OffloadSocketStatistics>)c.Extra!);
                break;
            case CommandKind.AdapterStatus:
                OnAdapterStatus((NdisStatus)(uint)c.Value);
                break;
            case CommandKind.SyntheticOffload:
                StartSyntheticOffload((HostConnection)c.Object!);
                break;
            case CommandKind.QueryComplete:
                OnQueryComplete((OffloadBlock)c.Object!);
                break;
            case CommandKind.NeighborQueried:
                VerifyNeighbor((NeighborEntry)c.Object!);
                break;
            case CommandKind.InvalidateComplete:
                OnInvalidateComplete((OffloadBlock)c.Object!);
                break;
        }
    }

    // ---- public API -------------------------------------------------------------------------------------------------

    /// <summary>Resolves an on-link IPv4 address to a MAC address with ARP (cached answers complete at once).</summary>
    /// <exception cref="SocketException">HostUnreachable when no answer came after the configured requests.</exception>
    public Task<MacAddress> ResolveAsync(Ipv4Address address) => ResolveCore(address);

    /// <summary>Resolves an on-link IPv6 address to a MAC address with neighbour discovery (RFC 4861: solicitations to
    /// the solicited-node multicast address; cached answers complete at once).</summary>
    /// <exception cref="SocketException">HostUnreachable when no advertisement came after the configured solicitations.</exception>
    public Task<MacAddress> ResolveAsync(Ipv6Address address) => ResolveCore(address);

    private Task<MacAddress> ResolveCore(IpAddressValue address)
    {
        var tcs = new TaskCompletionSource<MacAddress>(AsyncContinuations ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        Post(new HostCommand { Kind = CommandKind.Resolve, Address = address, Object = tcs });
        return tcs.Task;
    }

    /// <summary>Opens a connection (active open): resolves the next hop, runs the handshake in host mode, then applies
    /// the offload policy.</summary>
    public Task<OffloadSocket> ConnectAsync(Ipv4Address remote, ushort remotePort, CancellationToken cancellationToken = default)
        => ConnectCore(remote, remotePort, cancellationToken);

    /// <summary>Opens a connection over IPv6 (active open): resolves the next hop by neighbour discovery, runs the
    /// handshake in host mode, then applies the offload policy (the target's path object is an Ip6 one).</summary>
    /// <exception cref="SocketException">NetworkUnreachable when the stack has no IPv6 address or no route.</exception>
    public Task<OffloadSocket> ConnectAsync(Ipv6Address remote, ushort remotePort, CancellationToken cancellationToken = default)
        => ConnectCore(remote, remotePort, cancellationToken);

    private Task<OffloadSocket> ConnectCore(IpAddressValue remote, ushort remotePort, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ushort port = AllocatePort(remote, remotePort);
        var socket = new OffloadSocket(this, remote, remotePort, port);
        var tcs = new TaskCompletionSource<OffloadSocket>(AsyncContinuations ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        socket.Connection.ConnectTcs = tcs;
        Post(new HostCommand { Kind = CommandKind.Connect, Object = socket.Connection });
        return tcs.Task;
    }

    /// <summary>Listens on <paramref name="port"/> (passive open): SYNs to it create connections to accept.</summary>
    public OffloadListener Listen(ushort port, int backlog = 128)
    {
        var listener = new OffloadListener(this, port, backlog);
        Post(new HostCommand { Kind = CommandKind.Listen, Object = listener });
        return listener;
    }

    /// <summary>
    /// Offloads a connection from supplied state without any handshake on the wire (for tests with a precise external
    /// peer that chose the sequence numbers, windows, scales, MSS, SACK/timestamp flags and TsRecent). The next hop's MAC
    /// comes from <see cref="SyntheticConnection.RemoteMac"/> or the neighbour cache (ARP first when unknown); the
    /// neighbour and path objects are shared with other connections as usual. Segments for the connection that arrive
    /// during the initiate are forwarded after it. Completes with the socket and the target's timestamp clock of the
    /// connection (queried after the initiate).
    /// </summary>
    /// <exception cref="ArgumentException">The state cannot be offloaded.</exception>
    /// <exception cref="SocketException">AddressAlreadyInUse (the connection exists), NetworkUnreachable, HostUnreachable
    /// (no MAC); ConnectionRefused when the target refused the initiate (the connection does not exist then).</exception>
    public async Task<SyntheticOffloadResult> OffloadSyntheticAsync(SyntheticConnection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var errors = connection.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join(" ", errors), nameof(connection));
        var hop = NextHop(connection.RemoteAddress) ?? throw new SocketException((int)SocketError.NetworkUnreachable);
        if (connection.RemoteMac is null) await ResolveCore(hop).WaitAsync(cancellationToken).ConfigureAwait(false);
        // The target gets a copy: the caller's state object stays the caller's.
        connection = connection with { Delegated = connection.Delegated with { } };
        var socket = new OffloadSocket(this, connection.RemoteAddress, connection.Const.RemotePort, connection.Const.LocalPort);
        var tcs = new TaskCompletionSource<SyntheticOffloadResult>(AsyncContinuations ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        socket.Connection.Synthetic = new SyntheticOffload(connection, tcs);
        Post(new HostCommand { Kind = CommandKind.SyntheticOffload, Object = socket.Connection });
        return await tcs.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Engine thread or manual mode only: the neighbour cache entry of <paramref name="address"/>.</summary>
    public bool TryGetNeighbor(Ipv4Address address, out MacAddress mac, out NeighborState state)
        => TryGetNeighborCore(address, out mac, out state);

    /// <summary>Engine thread or manual mode only: the IPv6 neighbour cache entry of <paramref name="address"/>.</summary>
    public bool TryGetNeighbor(Ipv6Address address, out MacAddress mac, out NeighborState state)
        => TryGetNeighborCore(address, out mac, out state);

    private bool TryGetNeighborCore(IpAddressValue address, out MacAddress mac, out NeighborState state)
    {
        if (_neighbors.TryGetValue(address, out var entry))
        {
            mac = entry.Mac;
            state = entry.State;
            return true;
        }
        mac = default;
        state = default;
        return false;
    }

    /// <summary>Engine thread or manual mode only: connections the stack holds (any location but closed).</summary>
    public int ConnectionCount => _connectionList.Count;

    /// <summary>Engine thread or manual mode only: (offloaded neighbour objects, offloaded path objects) and the
    /// dependents they count.</summary>
    public (int Neighbors, int Paths, int PathDependents) OffloadedObjects
    {
        get
        {
            int n = 0, p = 0, d = 0;
            foreach (var e in _neighbors.Values) if (e.OffloadState == ObjectOffloadState.Offloaded) n++;
            foreach (var path in _paths.Values)
            {
                if (path.OffloadState != ObjectOffloadState.Offloaded) continue;
                p++;
                d += path.Dependents;
            }
            return (n, p, d);
        }
    }

    private ushort AllocatePort(IpAddressValue remote, ushort remotePort)
    {
        // Application thread: an atomic counter hands out ports; the loop refuses a key already in use.
        int range = 65536 - Options.EphemeralPortStart;
        int n = Interlocked.Increment(ref _portCounter) - 1;
        _ = remote;
        _ = remotePort;
        return (ushort)(Options.EphemeralPortStart + (n % range));
    }

    /// <summary>Engine thread or manual mode only: one line per connection (diagnostics).</summary>
    public IEnumerable<string> DescribeConnections()
    {
        foreach (var c in _connectionList) yield return Describe(c);
    }

    // Engine thread or manual mode only.
    private static string Describe(HostConnection c)
    {
        var m = c.Machine;
        return $"{c} una={m?.SndUna} nxt={m?.SndNxt} rcvnxt={m?.RcvNxt} sndwnd={m?.SndWnd} rcvwnd={m?.RcvWnd} mbuf={m?.ReceiveBufferedBytes} "
            + $"rx={c.Rx.Count} eof={c.Rx.IsEnded} pendingRead={c.Rx.PendingReadSize} inflight={c.Inflight.Count} pending={c.Pending.Count} held={c.Held.Count} "
            + $"post={c.PostOutstanding} blocked={c.IndicationsBlocked} finPending={c.PeerFinPending} out={c.OffloadOutstanding}/{c.SendBacklog} "
            + $"offloads={c.OffloadCount} uploads={c.UploadCount} written={c.Socket.BytesWritten} {c.Socket.SendDiagnostics}";
    }

    internal bool TryGetConnectionByHandle(ulong handle, out HostConnection connection)
        => _connectionHandles.TryGetValue(handle, out connection!);

    private long _nowMicros;

    /// <summary>The engine's clock as of its last round (read by the reachability query on the completion thread).</summary>
    internal long NowMicros => Volatile.Read(ref _nowMicros);

    internal bool TryGetNeighborByHandle(ulong handle, out NeighborEntry entry)
        => _neighborHandles.TryGetValue(handle, out entry!);

    internal ulong NewHandle() => (ulong)Interlocked.Increment(ref _nextHandle);

    internal static Exception HostUnreachable(IpAddressValue address)
        => new SocketException((int)SocketError.HostUnreachable) { Data = { ["address"] = address.ToString() } };

    /// <summary>Stops the engine thread (threaded mode).</summary>
    public void Dispose()
    {
        _stop = true;
        _wake.Release();
        _thread?.Join(5000);
        // The semaphore is not disposed: a target's completion thread may still be calling Post (it returns early,
        // but may have read _stop just before it was set).
    }
}
