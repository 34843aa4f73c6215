using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Link;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Target;

/// <summary>
/// The emulated TCP offload NIC: the chimney <see cref="IOffloadTarget"/> over a link device.
/// </summary>
/// <remarks>
/// <para>
/// Every request is queued to the engine and returns PENDING (ReceiveReturn, SendFrame and the OIDs are synchronous);
/// completions and indications reach the bound host through the <see cref="CompletionQueue"/>, never from inside a
/// request and never on the engine thread (spec §0, architecture §3).
/// </para>
/// <para>
/// Two ways to run it. <see cref="Start(TimeProvider?)"/>: a device reader thread and an engine thread driven by a
/// <see cref="TimeProvider"/>. Manual: the caller drives <see cref="Poll"/> with its own clock (deterministic tests),
/// typically with a manual <see cref="CompletionQueue"/> drained by the same thread.
/// </para>
/// </remarks>
public sealed class OffloadTarget : IOffloadTarget, IDisposable
{
    private const int ReadBatch = 64;

    private static readonly Meter s_meter = new("OffloadEmu");

    private readonly TargetEngine _engine;
    private readonly ILinkDevice _device;
    private readonly ILogger? _logger;
    private readonly FrameBuffer[] _pollBatch;
    private readonly Lock _pollLock = new();
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private int _wakePending;
    // Inline mode (a device with a readiness descriptor): the engine thread reads the device itself and sleeps in poll(2)
    // on it and an eventfd; _sleeping says it does (or is about to), so only then does a producer pay the write(2).
    private LinkWaiter? _waiter;
    private int _sleeping;
    private Thread? _engineThread;
    private Thread? _readerThread;
    private volatile bool _stop;
    private TimeProvider _time = TimeProvider.System;
    private long _timeOrigin;
    private int _disposed;

    /// <summary>Creates the target over <paramref name="device"/>; nothing runs until <see cref="Start(TimeProvider?)"/> or <see cref="Poll"/>.</summary>
    /// <exception cref="ArgumentException">The options are invalid (the message lists every problem).</exception>
    public OffloadTarget(ILinkDevice device, OffloadTargetOptions? options = null, CompletionQueue? completions = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        options ??= new OffloadTargetOptions();
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("Invalid offload target options: " + string.Join(" ", errors), nameof(options));
        _device = device;
        _logger = logger;
        Options = options;
        Completions = completions ?? new CompletionQueue();
        _engine = new TargetEngine(device, options, Completions, logger);
        _pollBatch = new FrameBuffer[ReadBatch];
        for (int i = 0; i < _pollBatch.Length; i++) _pollBatch[i] = _engine.FramePool.Rent();
        RegisterMetrics();
    }

    /// <summary>The options in force.</summary>
    public OffloadTargetOptions Options { get; }

    /// <summary>Where completions and indications are queued for the host.</summary>
    public CompletionQueue Completions { get; }

    /// <summary>Offloaded TCP connections now.</summary>
    public int ConnectionCount => _engine.ConnectionCount;

    /// <summary>RSTs the TCP machine wanted to send that the target suppressed (only the abortive disconnect may send one).</summary>
    public long SuppressedResets => Interlocked.Read(ref _engine.SuppressedResets);

    /// <summary>Frames handed up to the host on the non-offload path.</summary>
    public long FramesUp => Interlocked.Read(ref _engine.FramesUp);

    /// <summary>Frames dropped (full rings, oversized).</summary>
    public long DroppedFrames => Interlocked.Read(ref _engine.DroppedFrames);

    /// <summary>Indication NBLs (and returned BufferedData) the host still holds.</summary>
    public long IndicatedBuffersHeldByHost => _engine.IndicationBuffers.Outstanding;

    // ---- running ------------------------------------------------------------------------------------------------------

    /// <summary>Starts the device reader and engine threads, timed by <paramref name="time"/> (default: system).</summary>
    public void Start(TimeProvider? time = null) => Start(time, readDevice: true);

    /// <summary>Starts the engine thread and, when <paramref name="readDevice"/>, a reader thread on the device. With
    /// <paramref name="readDevice"/> false something else reads the device (the daemon's link service) and hands the
    /// frames over with <see cref="DeliverFrames"/>; the target still transmits on the device itself.</summary>
    public void Start(TimeProvider? time, bool readDevice)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_engineThread is not null) throw new InvalidOperationException("The offload target is already running.");
        _time = time ?? TimeProvider.System;
        _timeOrigin = _time.GetTimestamp();
        _engine.WakeUp = Wake;
        _externalReader = !readDevice;
        // A device that announces its frames on a descriptor is read by the engine thread itself: no reader thread, no
        // ring hand-off and no cross-thread wake-up per received batch (each ACK of a bulk send used to wake the reader,
        // which then woke the engine). Other devices (in-memory, pcap, impairment) keep the reader thread.
        if (readDevice) _waiter = LinkWaiter.TryCreate(_device);
        _engineThread = _waiter is not null
            ? new Thread(InlineEngineLoop) { IsBackground = true, Name = $"oe-target {_device.Name}" }
            : new Thread(EngineLoop) { IsBackground = true, Name = $"oe-target {_device.Name}" };
        if (readDevice && _waiter is null)
        {
            _readerThread = new Thread(ReaderLoop) { IsBackground = true, Name = $"oe-target-rx {_device.Name}" };
            _readerThread.Start();
        }
        _engineThread.Start();
    }

    /// <summary>
    /// Hands received frames to the engine when the target was started without its own reader: each frame is copied
    /// into a buffer of the target's pool (the caller keeps its buffers). A full receive ring drops the frame and counts
    /// it (<see cref="DroppedFrames"/>, the device's QueueFull drops), as does running out of the receive buffers
    /// preallocated at construction: this path never allocates. Returns the frames accepted. Call from one thread.
    /// </summary>
    public int DeliverFrames(ReadOnlySpan<FrameBuffer> frames)
    {
        if (!_externalReader) throw new InvalidOperationException("DeliverFrames is for a target started with readDevice: false.");
        var pool = _engine.FramePool;
        int accepted = 0;
        foreach (var frame in frames)
        {
            if (!pool.TryRent(out var copy))
            {
                // Out of receive buffers (the engine is behind): drop and count, never grow on this path.
                CountReceiveDrop(DropReason.QueueFull);
                continue;
            }
            if (frame.Length > copy.Array.Length)
            {
                pool.Return(copy);
                CountReceiveDrop(DropReason.TooLong);
                continue;
            }
            frame.Span.CopyTo(copy.Array);
            copy.Length = frame.Length;
            if (_engine.ReceivedFrames.TryEnqueue(copy))
            {
                accepted++;
                continue;
            }
            pool.Return(copy);
            CountReceiveDrop(DropReason.QueueFull);
        }
        if (accepted > 0) Wake();
        return accepted;
    }

    /// <summary>
    /// Manual mode: runs one engine round at <paramref name="now"/>: queued requests, frames waiting on the device,
    /// due timers, transmissions. Returns the amount of work done (0 = idle).
    /// </summary>
    public int Poll(Instant now)
    {
        if (_engineThread is not null) throw new InvalidOperationException("Poll is for manual mode; the target was started with its own threads.");
        lock (_pollLock) return _engine.RunOnce(now, readDevice: true, _pollBatch);
    }

    /// <summary>Manual mode: the earliest instant a connection timer needs <see cref="Poll"/> (Instant.MaxValue = none).</summary>
    public Instant NextWake
    {
        get
        {
            lock (_pollLock) return _engine.NextWake;
        }
    }

    private bool _externalReader;

    /// <summary>A received frame the engine never saw: counted by the target and by the device, by reason.</summary>
    private void CountReceiveDrop(DropReason reason)
    {
        Interlocked.Increment(ref _engine.DroppedFrames);
        _device.Statistics.CountDrop(reason);
    }

    private Instant Now => Instant.FromMicroseconds((long)(_time.GetElapsedTime(_timeOrigin).Ticks / 10));

    private void Wake()
    {
        if (_waiter is { } waiter)
        {
            // A full fence after the caller's enqueue: either the engine sees the work before it sleeps (it re-checks
            // after setting _sleeping) or this sees _sleeping and signals.
            if (Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1) waiter.Signal();
            return;
        }
        if (Interlocked.Exchange(ref _wakePending, 1) == 0) _wake.Release();
    }

    /// <summary>Microseconds until the next timer, capped at 100 ms (0 = due now).</summary>
    private long MicrosecondsToNextWake()
    {
        var next = _engine.NextWake;
        return next == Instant.MaxValue ? 100_000 : Math.Clamp(next.Microseconds - Now.Microseconds, 0, 100_000);
    }

    /// <summary>Busy poll (Options.BusyPollMicroseconds): rounds until one does work (true) or the time is up (false).</summary>
    private bool BusyPoll(bool readDevice, Span<FrameBuffer> batch)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        long limit = Options.BusyPollMicroseconds * System.Diagnostics.Stopwatch.Frequency / 1_000_000;
        while (!_stop && System.Diagnostics.Stopwatch.GetTimestamp() - start < limit)
        {
            if (_engine.RunOnce(Now, readDevice, batch) > 0) return true;
            // Give the core to any other runnable thread (the host stack, the application, the peer on a small machine)
            // between looks: sched_yield returns at once when nobody else wants it.
            Thread.Yield();
        }
        return false;
    }

    private void EngineLoop()
    {
        var noBatch = Array.Empty<FrameBuffer>();
        bool busyPoll = Options.BusyPollMicroseconds > 0;
        while (!_stop)
        {
            Interlocked.Exchange(ref _wakePending, 0);
            var now = Now;
            int work = _engine.RunOnce(now, readDevice: false, noBatch);
            if (work > 0) continue;
            if (busyPoll && BusyPoll(readDevice: false, noBatch)) continue;
            long waitUs = MicrosecondsToNextWake();
            if (waitUs > 0) _wake.Wait(TimeSpan.FromTicks(waitUs * 10));
        }
    }

    // Inline mode: the engine reads the device in every round (until EAGAIN) and sleeps in poll(2) on the device and
    // the wake eventfd.
    private void InlineEngineLoop()
    {
        var waiter = _waiter!;
        var batch = _pollBatch;
        bool busyPoll = Options.BusyPollMicroseconds > 0;
        bool readDevice = true;
        while (!_stop)
        {
            try
            {
                if (_engine.RunOnce(Now, readDevice, batch) > 0) continue;
                if (busyPoll && BusyPoll(readDevice, batch)) continue;
                Interlocked.Exchange(ref _sleeping, 1);
                // Queued between the round and the announcement: that producer may have seen _sleeping = 0 and not signalled.
                if (_engine.HasQueuedInput || _stop)
                {
                    Volatile.Write(ref _sleeping, 0);
                    continue;
                }
                long waitUs = MicrosecondsToNextWake();
                if (waitUs > 0) waiter.Wait((int)((waitUs + 999) / 1000));
                Volatile.Write(ref _sleeping, 0);
            }
            catch (Exception ex) when (_stop || ex is ObjectDisposedException)
            {
                return;   // closing the device under the loop ends it
            }
            catch (LinkDeviceException ex) when (readDevice)
            {
                // The device failed for reading (as the reader thread would report it): requests, timers and completions
                // go on without its input, as they did when only the reader thread ended.
                if (_logger is not null) TargetLog.ReceiveFailed(_logger, _device.Name, ex);
                readDevice = false;
                waiter.StopWatchingDevice();
            }
        }
    }

    private void ReaderLoop()
    {
        var batch = new FrameBuffer[ReadBatch];
        var pool = _engine.FramePool;
        for (int i = 0; i < batch.Length; i++) batch[i] = pool.Rent();
        try
        {
            while (!_stop)
            {
                int n = _device.Receive(batch, 100);
                if (n <= 0) continue;
                for (int i = 0; i < n; i++)
                {
                    var frame = batch[i];
                    // Zero-copy hand-off (the engine returns the buffer after processing) when a replacement buffer
                    // is free; out of buffers, the frame is dropped and its buffer reused: this loop never allocates.
                    if (pool.TryRent(out var replacement))
                    {
                        if (_engine.ReceivedFrames.TryEnqueue(frame))
                        {
                            batch[i] = replacement;
                            continue;
                        }
                        pool.Return(replacement);
                    }
                    CountReceiveDrop(DropReason.QueueFull);
                }
                Wake();
            }
        }
        catch (Exception ex) when (_stop || ex is ObjectDisposedException)
        {
            // Closing the device under the reader ends it.
        }
        catch (Exception ex)
        {
            if (_logger is not null) TargetLog.ReceiveFailed(_logger, _device.Name, ex);
        }
    }

    /// <summary>The offload parameters in effect (the last accepted <see cref="SetParameters"/>, else the options').</summary>
    public OffloadParameters CurrentParameters => _engine.Parameters;

    /// <summary>The TCP configuration connections offloaded from now on run with (RTO floor, FIN_WAIT_2 time,
    /// challenge-ACK interval, …), read-only.</summary>
    public TcpConfig CurrentTcpConfig => _engine.TcpConfig;

    // ---- IOffloadTarget -----------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void Bind(IOffloadHost host) => _engine.Bind(host);

    /// <inheritdoc/>
    public TcpConnectionOffloadCapabilities CurrentCapabilities => Options.Capabilities;

    /// <inheritdoc/>
    public TcpConnectionOffloadCapabilities HardwareCapabilities => Options.Capabilities;

    /// <inheritdoc/>
    public NdisStatus SetParameters(OffloadParameters parameters) => _engine.SetParameters(parameters);

    /// <inheritdoc/>
    public MacAddress MacAddress => _engine.NicMac;

    /// <inheritdoc/>
    public int Mtu => _device.Mtu;

    /// <inheritdoc/>
    public NdisStatus SendFrame(ReadOnlySpan<byte> frame) => _engine.EnqueueHostFrame(frame);

    /// <inheritdoc/>
    public TcpOffloadStatisticsSnapshot QueryTcpStatistics(bool ipv6) => _engine.Stats(ipv6).Tcp.Snapshot();

    /// <inheritdoc/>
    public IpOffloadStatisticsSnapshot QueryIpStatistics(bool ipv6) => _engine.Stats(ipv6).Ip.Snapshot();

    /// <inheritdoc/>
    public void ResetStatistics(bool ipv6) => _engine.Stats(ipv6).Reset();

    /// <inheritdoc/>
    public NdisStatus InitiateOffload(OffloadBlock root) => Queue(RequestKind.Initiate, 0, root);

    /// <inheritdoc/>
    public NdisStatus TerminateOffload(OffloadBlock root) => Queue(RequestKind.Terminate, 0, root);

    /// <inheritdoc/>
    public NdisStatus UpdateOffload(OffloadBlock root) => Queue(RequestKind.Update, 0, root);

    /// <inheritdoc/>
    public NdisStatus InvalidateOffload(OffloadBlock root) => Queue(RequestKind.Invalidate, 0, root);

    /// <inheritdoc/>
    public NdisStatus QueryOffloadState(OffloadBlock root) => Queue(RequestKind.Query, 0, root);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadSend(ulong context, NetBufferList chain) => Queue(RequestKind.Send, context, chain);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain) => Queue(RequestKind.Receive, context, chain);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadDisconnect(ulong context, NetBufferList nbl, TcpDisconnectFlags flags)
    {
        ArgumentNullException.ThrowIfNull(nbl);
        EnsureBound();
        _engine.Enqueue(new TargetRequest(RequestKind.Disconnect, context, nbl, (int)flags));
        return NdisStatus.Pending;
    }

    /// <inheritdoc/>
    public NdisStatus TcpOffloadForward(ulong context, NetBufferList chain) => Queue(RequestKind.Forward, context, chain);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadReceiveReturn(NetBufferList chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        _engine.ReturnIndicated(chain);
        return NdisStatus.Success;
    }

    private NdisStatus Queue(RequestKind kind, ulong context, object argument)
    {
        ArgumentNullException.ThrowIfNull(argument);
        EnsureBound();
        _engine.Enqueue(new TargetRequest(kind, context, argument));
        return NdisStatus.Pending;
    }

    private void EnsureBound()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (!_engine.IsBound) throw new InvalidOperationException("Bind a host before making requests.");
    }

    // ---- operator and test commands -----------------------------------------------------------------------------------

    /// <summary>Indicates NDIS_STATUS_OFFLOAD_PAUSE: initiates wait until <see cref="IndicateResume"/> (spec §6.6).</summary>
    public void IndicatePause() => _engine.Enqueue(new TargetRequest(RequestKind.Pause));

    /// <summary>Indicates NDIS_STATUS_UPLOAD_ALL: the host terminates every offloaded object (spec §6.6).</summary>
    public void IndicateUploadAll() => _engine.Enqueue(new TargetRequest(RequestKind.UploadAll));

    /// <summary>Indicates NDIS_STATUS_OFFLOAD_RESUME: held initiates run, the host re-reads capabilities (spec §6.6).</summary>
    public void IndicateResume() => _engine.Enqueue(new TargetRequest(RequestKind.Resume));

    /// <summary>Injects a hardware failure on a connection: Retrieve(HardwareFailure), Abort, terminate FAILURE (spec §6.6).</summary>
    public void InjectHardwareFailure(ulong context) => _engine.Enqueue(new TargetRequest(RequestKind.HardwareFailure, context));

    /// <summary>Asks the host to upload a connection with <paramref name="reason"/> (spec §6.3).</summary>
    public void RequestUpload(ulong context, TcpUploadReason reason = TcpUploadReason.UploadRequested)
        => _engine.Enqueue(new TargetRequest(RequestKind.RequestUpload, context, null, (int)reason));

    /// <summary>
    /// A consistent copy of every offloaded connection's state (at most <paramref name="max"/>; <c>Total</c> counts all),
    /// taken on the engine thread between two rounds (status tools: `offloademu status`).
    /// </summary>
    /// <remarks>In manual mode the answer comes at the next <see cref="Poll"/>. A target stopped
    /// meanwhile never answers: bound the wait with <paramref name="cancellationToken"/>.</remarks>
    public Task<(IReadOnlyList<OffloadedConnectionInfo> Connections, int Total)> SnapshotConnectionsAsync(int max, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var request = new ConnectionSnapshotRequest(max);
        _engine.Enqueue(new TargetRequest(RequestKind.Snapshot, 0, request));
        return request.Result.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Engine thread or manual mode only: the delegated state of a connection now (diagnostics and tests).</summary>
    internal TcpMachine? MachineOf(ulong context)
        => _engine.TryGetObject(context, out var obj) && obj is TcpConnection c ? c.Machine : null;

    internal TargetEngine Engine => _engine;

    private void RegisterMetrics()
    {
        // Observable instruments: nothing on the hot path, read when a listener (dotnet-counters, OpenTelemetry) asks.
        var weak = new WeakReference<OffloadTarget>(this);
        s_meter.CreateObservableGauge("offloademu.target.connections", () => weak.TryGetTarget(out var t) ? t.ConnectionCount : 0,
            "{connection}", "Offloaded TCP connections");
        s_meter.CreateObservableCounter("offloademu.target.tcp.in_segments", () => weak.TryGetTarget(out var t)
            ? (long)(t.QueryTcpStatistics(false).InSegments + t.QueryTcpStatistics(true).InSegments) : 0, "{segment}", "TCP segments received on offloaded connections");
        s_meter.CreateObservableCounter("offloademu.target.tcp.out_segments", () => weak.TryGetTarget(out var t)
            ? (long)(t.QueryTcpStatistics(false).OutSegments + t.QueryTcpStatistics(true).OutSegments) : 0, "{segment}", "TCP segments sent on offloaded connections");
        s_meter.CreateObservableCounter("offloademu.target.tcp.retransmitted_segments", () => weak.TryGetTarget(out var t)
            ? (long)(t.QueryTcpStatistics(false).RetransmittedSegments + t.QueryTcpStatistics(true).RetransmittedSegments) : 0, "{segment}", "TCP segments retransmitted");
        s_meter.CreateObservableCounter("offloademu.target.frames_up", () => weak.TryGetTarget(out var t) ? t.FramesUp : 0,
            "{frame}", "Frames handed to the host on the non-offload path");
    }

    /// <summary>Stops the threads. The device stays open (its owner closes it).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop = true;
        _wake.Release();
        _waiter?.Signal();
        _engineThread?.Join(5000);
        _readerThread?.Join(5000);
        _wake.Dispose();
        _waiter?.Dispose();
    }
}
