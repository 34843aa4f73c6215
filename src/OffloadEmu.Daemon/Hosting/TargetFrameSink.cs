using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OffloadEmu.Chimney;
using OffloadEmu.Daemon.Options;
using OffloadEmu.Link;
using OffloadEmu.Target;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// The daemon's data path: the offload target (the emulated NIC, docs/target.md) on the link stack's top device. When
/// every queue announces its input on a descriptor (TAP, AF_PACKET, also under capture and tracing; not under impairment,
/// not pcap or memory) and each engine loop has a queue of its own, the target's engine loops read the queues themselves
/// (<see cref="ReadsQueues"/>: no reader thread, no copy, no wake-up per batch); otherwise the link service reads the
/// device and hands every frame over. The target transmits on the device itself. Until a host binds
/// (<see cref="BindHost"/>: in-process, or the control protocol's sessions), frames for no offloaded connection that
/// go up are counted and dropped.
/// </summary>
/// <remarks>Stop (<see cref="DrainAsync"/>): the target indicates NDIS_STATUS_UPLOAD_ALL so bound hosts take every
/// connection back, and the drain waits until none is left offloaded (or the shutdown timeout).</remarks>
internal sealed class TargetFrameSink : IMultiQueueFrameSink, IDisposable
{
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<TargetFrameSink> _logger;
    private readonly OffloadTargetOptions _options;
    private readonly TimeProvider _time;
    private readonly int _queues;
    private readonly HostSlot _slot = new();
    private OffloadTarget? _target;
    private CompletionQueue? _completions;
    private long _frames;
    private long _bytes;

    public TargetFrameSink(ILoggerFactory loggers, IOptions<NicOptions> nic, IOptions<OffloadParametersOptions> offload,
        IOptions<PoliciesOptions> policies, TimeProvider time)
    {
        _loggers = loggers;
        _logger = loggers.CreateLogger<TargetFrameSink>();
        _options = TargetOptionsBuilder.Build(nic.Value, offload.Value, policies.Value);
        _queues = nic.Value.Queues;
        _time = time;
    }

    /// <summary>The running target (null before <see cref="Attach(ILinkDevice, FramePool)"/> and after <see cref="Detach"/>).</summary>
    public OffloadTarget? Target => Volatile.Read(ref _target);

    /// <summary>The target for a host to drive (in-process host stack, or the control server): requests go to the target,
    /// <see cref="IOffloadTarget.Bind"/> binds into this sink's host slot. Null before <see cref="Attach(ILinkDevice, FramePool)"/>.</summary>
    public IOffloadTarget? HostView => Volatile.Read(ref _hostView);

    private IOffloadTarget? _hostView;

    /// <summary>Frames received from the link.</summary>
    public long Frames => Volatile.Read(ref _frames);

    /// <summary>Bytes received from the link.</summary>
    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>Binds the host that drives the target (in-process host stack, or the control server's sessions).</summary>
    public void BindHost(IOffloadHost host) => _slot.Bind(host);

    /// <summary>Frames the target passed up while no host was bound (dropped).</summary>
    public long UnclaimedFramesUp => _slot.Frames;

    public int QueuesWanted => _queues;

    /// <summary>Device queues the target runs over (1 when its loops share one; 0 before <see cref="Attach(ILinkDevice, FramePool)"/>).</summary>
    public int DeviceQueues => Volatile.Read(ref _deviceQueues);

    private int _deviceQueues;

    public void Attach(ILinkDevice device, FramePool pool) => Attach([device], pool, null);

    public void Attach(IReadOnlyList<ILinkDevice> devices, FramePool pool, string? singleQueueReason)
    {
        var errors = _options.Validate();
        if (errors.Count > 0) throw new InvalidOperationException("offload target options: " + string.Join("; ", errors));
        _completions = new CompletionQueue(ex => DaemonLog.HostCallbackFailed(_logger, ex));
        var device = devices[0];
        IReadOnlyList<ILinkDevice> queues = devices;
        if (_queues > 1 && devices.Count == 1)
        {
            // Nic:Queues > 1 over one device queue (the link cannot have more, or impairment wants one): that many engine
            // loops; the receive loop dispatches frames to loops by hash, the loops share the device for sending.
            var shared = new SharedSendDevice(device);
            var list = new ILinkDevice[_queues];
            Array.Fill<ILinkDevice>(list, shared);
            queues = list;
        }
        else if (devices.Count != 1 && devices.Count != _queues)
        {
            throw new InvalidOperationException($"The link has {devices.Count} queues; Nic:Queues is {_queues}.");
        }
        var target = new OffloadTarget(queues, _options, _completions, _loggers.CreateLogger("OffloadEmu.Target"));
        target.Bind(_slot);
        // Each loop over a queue of its own that has a readiness descriptor: the engine reads it inline (as the embedded
        // target does). Loops sharing one queue keep the link service's reader, which dispatches frames by hash.
        bool inline = ReadInline && ReferenceEquals(queues, devices);
        for (int i = 0; inline && i < devices.Count; i++) inline = LinkWaiter.CanWait(devices[i]);
        target.Start(_time, readDevice: inline);
        Volatile.Write(ref _readsQueues, inline);
        Volatile.Write(ref _deviceQueues, devices.Count);
        Volatile.Write(ref _hostView, new SlotBoundTarget(target, _slot));
        Volatile.Write(ref _target, target);
        if (_queues > 1 && devices.Count == 1)
            DaemonLog.QueuesShareOne(_logger, target.QueueCount, _queues, device.Name, singleQueueReason ?? "the frame sink was given one queue");
        else if (devices.Count > 1)
            DaemonLog.QueuesInUse(_logger, target.QueueCount, devices.Count, device.Name);
        DaemonLog.TargetStarted(_logger, device.Name, target.MacAddress.ToString(), (int)_options.Capabilities.TcpConnectionOffloadCapacity,
            _options.Parameters.TicksPerSecond);
    }

    /// <summary>False: the link service reads the device and hands frames over even when the engine could read it
    /// (<c>OFFLOADEMU_READER_THREAD=1</c>; for comparisons).</summary>
    internal static bool ReadInline { get; set; } = Environment.GetEnvironmentVariable("OFFLOADEMU_READER_THREAD") != "1";

    /// <inheritdoc/>
    public bool ReadsQueues => Volatile.Read(ref _readsQueues);

    private bool _readsQueues;

    /// <inheritdoc/>
    public void QueuesReplaced() => Target?.WakeLoops();

    public void OnReceived(Span<FrameBuffer> frames)
    {
        long bytes = 0;
        foreach (var f in frames) bytes += f.Length;
        Interlocked.Add(ref _bytes, bytes);
        Interlocked.Add(ref _frames, frames.Length);
        _target?.DeliverFrames(frames);
    }

    public void OnReceived(int queue, Span<FrameBuffer> frames)
    {
        long bytes = 0;
        foreach (var f in frames) bytes += f.Length;
        Interlocked.Add(ref _bytes, bytes);
        Interlocked.Add(ref _frames, frames.Length);
        _target?.DeliverFrames(queue, frames);
    }

    /// <summary>The link is lost: every offloaded connection takes the hardware-failure path (spec §6.6: Retrieve with
    /// HardwareFailure, Abort; its terminate completes FAILURE, its I/O REQUEST_ABORTED). Returns how many were failed
    /// (connections already failing are counted again; failing them twice does nothing).</summary>
    public int FailAllConnections()
    {
        if (Target is not { } target || target.ConnectionCount == 0) return 0;
        IReadOnlyList<OffloadedConnectionInfo> connections;
        try
        {
            (connections, _) = target.SnapshotConnectionsAsync(int.MaxValue).WaitAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is TimeoutException or ObjectDisposedException)
        {
            return 0;
        }
        foreach (var c in connections) target.InjectHardwareFailure(c.Context);
        return connections.Count;
    }

    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        if (Target is not { } target) return;
        target.IndicateUploadAll();
        while (target.ConnectionCount > 0)
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
    }

    public void Detach()
    {
        Volatile.Write(ref _hostView, null);
        var target = Interlocked.Exchange(ref _target, null);
        if (target is null) return;
        DaemonLog.TargetStopped(_logger, target.FramesUp, target.DroppedFrames, _slot.Frames);
        target.Dispose();
    }

    public void Dispose() => Detach();

    /// <summary>The target's host side: forwards to the host bound with <see cref="Bind"/>; while none is bound it
    /// counts frames passed up and drops them (no request can have been made then, so no completion can arrive).</summary>
    internal sealed class HostSlot : IOffloadHost
    {
        private IOffloadHost? _host;
        private long _frames;

        /// <summary>Frames passed up while no host was bound.</summary>
        public long Frames => Interlocked.Read(ref _frames);

        /// <summary>Binds the host (once).</summary>
        public void Bind(IOffloadHost host)
        {
            ArgumentNullException.ThrowIfNull(host);
            if (Interlocked.CompareExchange(ref _host, host, null) is not null)
                throw new InvalidOperationException("A host is already bound to the daemon's offload target.");
        }

        private IOffloadHost Host => Volatile.Read(ref _host) ?? throw new InvalidOperationException("A completion arrived with no host bound.");

        public void ReceiveFrame(ReadOnlySpan<byte> frame)
        {
            if (Volatile.Read(ref _host) is { } host) host.ReceiveFrame(frame);
            else Interlocked.Increment(ref _frames);
        }

        public void IndicateStatus(NdisStatus adapterStatus) => Volatile.Read(ref _host)?.IndicateStatus(adapterStatus);
        public void InitiateOffloadComplete(OffloadBlock root) => Host.InitiateOffloadComplete(root);
        public void TerminateOffloadComplete(OffloadBlock root) => Host.TerminateOffloadComplete(root);
        public void UpdateOffloadComplete(OffloadBlock root) => Host.UpdateOffloadComplete(root);
        public void InvalidateOffloadComplete(OffloadBlock root) => Host.InvalidateOffloadComplete(root);
        public void QueryOffloadStateComplete(OffloadBlock root) => Host.QueryOffloadStateComplete(root);
        public void TcpOffloadSendComplete(NetBufferList chain) => Host.TcpOffloadSendComplete(chain);
        public void TcpOffloadReceiveComplete(NetBufferList chain) => Host.TcpOffloadReceiveComplete(chain);
        public void TcpOffloadDisconnectComplete(NetBufferList nbl) => Host.TcpOffloadDisconnectComplete(nbl);
        public void TcpOffloadForwardComplete(NetBufferList chain) => Host.TcpOffloadForwardComplete(chain);

        public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
            => Host.TcpOffloadReceiveIndicate(ndisOffloadHandle, nbl, status, out bytesConsumed);

        public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info) => Host.TcpOffloadEvent(ndisOffloadHandle, type, info);
        public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code) => Host.NeighborOffloadEvent(neighborBlock, code);
    }
}
