using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OffloadEmu.Daemon.Metrics;
using OffloadEmu.Daemon.Options;
using OffloadEmu.Link;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// Opens the configured link stack in <see cref="StartAsync"/> (so a missing interface fails the
/// start), runs the receive loop on a dedicated thread, and hands every batch to the
/// <see cref="IFrameSink"/>. <see cref="StopAsync"/> is the ordered stop of the daemon's data path.
/// </summary>
/// <remarks>
/// <para>Stop order: (1) <see cref="IFrameSink.DrainAsync"/> while frames still flow, so uploads and
/// pending requests complete; (2) stop and join the receive thread; (3) <see cref="IFrameSink.Detach"/>;
/// (4) close the stack outermost first: the capture is flushed and closed, then the impairment and
/// the device. Nothing is disposed while the receive thread may still use it.</para>
/// <para>The receive loop allocates nothing per frame: one batch of pooled buffers is rented at start
/// and reused; the sink may swap buffers in the batch (zero-copy hand-off).</para>
/// </remarks>
internal sealed class LinkService : IHostedService, IDisposable
{
    /// <summary>Frames received per Receive call at most.</summary>
    internal const int BatchSize = 64;

    /// <summary>How long one Receive waits before the loop checks for stop; bounds the stop latency.</summary>
    internal const int PollMilliseconds = 100;

    private const int JoinMilliseconds = 5000;

    private readonly LinkStackFactory _factory;
    private readonly IFrameSink _sink;
    private readonly DaemonMetrics _metrics;
    private readonly DaemonStatus _status;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<LinkService> _logger;
    private readonly LinkOptions _link;
    private readonly CaptureFileOptions _capture;
    private readonly ImpairmentOptions _impairment;
    private readonly ControlCapture _controlCapture;
    private readonly FramePool _pool;
    private FrameBuffer[][] _batches = [];

    private LinkStack? _stack;
    private Thread[] _threads = [];
    private volatile bool _stopRequested;
    private long _framesDelivered;
    private long _receiveThreadAllocated;
    private int _closed;

    public LinkService(LinkStackFactory factory, IFrameSink sink, DaemonMetrics metrics, DaemonStatus status,
        IHostApplicationLifetime lifetime, ILogger<LinkService> logger,
        IOptions<LinkOptions> link, IOptions<CaptureFileOptions> capture, IOptions<ImpairmentOptions> impairment, ControlCapture controlCapture)
    {
        _controlCapture = controlCapture;
        _factory = factory;
        _sink = sink;
        _metrics = metrics;
        _status = status;
        _lifetime = lifetime;
        _logger = logger;
        _link = link.Value;
        // Link:SegmentationOffload: the TAP hands over super-frames of up to 64 KiB; fewer, larger receive buffers.
        _pool = _link.SegmentationOffload ? new(FramePool.SuperFrameBufferSize, 256) : new(FramePool.DefaultBufferSize, 1024);
        _capture = capture.Value;
        _impairment = impairment.Value;
    }

    /// <summary>The opened stack (null before start; closed but still readable after stop).</summary>
    internal LinkStack? Stack => _stack;

    /// <summary>Frames handed to the sink so far (when the target's engine reads the link itself: frames read from the
    /// link's current devices).</summary>
    internal long FramesDelivered => _engineReads && _stack is { } stack ? stack.Totals().FramesIn : Interlocked.Read(ref _framesDelivered);

    /// <summary>The target's engine loops read the link's queues themselves (<see cref="IMultiQueueFrameSink.ReadsQueues"/>):
    /// this service runs no receive thread, only the link watcher.</summary>
    internal bool EngineReadsLink => _engineReads;

    private volatile bool _engineReads;
    private readonly ManualResetEventSlim _stopEvent = new();

    /// <summary>
    /// Bytes the receive thread had allocated after its latest batch (GC.GetAllocatedBytesForCurrentThread):
    /// flat while frames flow, because the loop allocates nothing per frame.
    /// </summary>
    internal long ReceiveThreadAllocatedBytes => Interlocked.Read(ref _receiveThreadAllocated);

    /// <summary>True while the receive thread (queue 0's), or the link watcher when the engine reads the link, runs.</summary>
    internal bool IsReceiving => _threads is [{ IsAlive: true }, ..];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Nic:Queues > 1: as many device queues as the link can have (a multi-queue TAP, an AF_PACKET fanout group).
        int wanted = _sink is IMultiQueueFrameSink multi ? Math.Max(1, multi.QueuesWanted) : 1;
        var stack = _factory.Open(_link, _capture, _impairment, _pool, wanted);
        _stack = stack;
        DaemonLog.LinkOpened(_logger, stack.Description);
        if (stack.Capture is { } cap)
        {
            DaemonLog.CaptureOpened(_logger, cap.CurrentPath ?? _capture.File, _capture.Format.ToString().ToLowerInvariant());
            AttachControlCapture(cap);
        }
        if (!string.IsNullOrWhiteSpace(_impairment.Ingress) || !string.IsNullOrWhiteSpace(_impairment.Egress))
            DaemonLog.ImpairmentOn(_logger, _impairment.Ingress, _impairment.Egress, _impairment.Seed);

        int queues = stack.Queues.Count;
        if (_sink is IMultiQueueFrameSink sink) sink.Attach(stack.Queues, _pool, stack.SingleQueueReason);
        else _sink.Attach(stack.Top, _pool);
        AttachMetrics(stack);

        if (_sink is IMultiQueueFrameSink { ReadsQueues: true })
        {
            // The target's engine loops read the queues themselves (each polls its queue's readiness descriptor): no
            // receive thread, no copy and no wake-up per batch. One thread watches the link's health and opens it again
            // when it is lost.
            _engineReads = true;
            _threads = [new Thread(WatchLoop) { IsBackground = true, Name = "oe-link " + stack.Device.Name }];
            _threads[0].Start();
            DaemonLog.LinkReadByEngine(_logger, stack.Device.Name, queues);
            return Task.CompletedTask;
        }

        _batches = new FrameBuffer[queues][];
        for (int q = 0; q < queues; q++)
        {
            _batches[q] = new FrameBuffer[BatchSize];
            for (int i = 0; i < BatchSize; i++) _batches[q][i] = _pool.Rent();
        }

        // Dedicated threads, not the pool: Receive blocks in poll(2) and the loop runs for the daemon's life. One per queue.
        _threads = new Thread[queues];
        for (int q = 0; q < queues; q++)
        {
            string name = queues == 1 ? "oe-rx " + stack.Device.Name : $"oe-rx {stack.Device.Name} q{q}";
            _threads[q] = new Thread(ReceiveLoop) { IsBackground = true, Name = name };
        }
        for (int q = 0; q < queues; q++)
        {
            _threads[q].Start(q);
            DaemonLog.ReceiveLoopStarted(_logger, stack.Device.Name, _threads[q].Name!);
        }
        return Task.CompletedTask;
    }

    private void AttachMetrics(LinkStack stack)
    {
        var statistics = new LinkStatistics[stack.Devices.Count];
        for (int i = 0; i < statistics.Length; i++) statistics[i] = stack.Devices[i].Statistics;
        _metrics.AttachLink(stack.Device.Name, statistics, () => FramesDelivered);
    }

    /// <summary>True while the device is lost and the daemon tries to open it again (status: MEDIA_DISCONNECT).</summary>
    internal bool IsLinkLost => _stack is { } stack && AnyLost(stack.Supervisors);

    // Per receive round: indexed, no enumerator (the receive loop allocates nothing).
    private static bool AnyLost(IReadOnlyList<SupervisedDevice> supervisors)
    {
        for (int i = 0; i < supervisors.Count; i++)
            if (supervisors[i].IsLost) return true;
        return false;
    }

    /// <summary>Times the device was lost, and opened again, since start.</summary>
    internal int LinkLosses => Volatile.Read(ref _linkLosses);

    /// <inheritdoc cref="LinkLosses"/>
    internal int LinkReattaches => Volatile.Read(ref _linkReattaches);

    private int _linkLosses;
    private int _linkReattaches;

    private void ReceiveLoop(object? state)
    {
        int queue = (int)state!;
        var stack = _stack!;
        var device = stack.Queues[queue];
        var batch = _batches[queue];
        var multi = stack.Queues.Count > 1 ? (IMultiQueueFrameSink)_sink : null;
        // Queue 0's thread watches the link's health and opens it again when it is lost (all queues at once).
        bool watcher = queue == 0;
        var health = new LinkHealth(stack.Devices);
        var supervisors = stack.Supervisors;
        try
        {
            while (!_stopRequested)
            {
                int n = device.Receive(batch, PollMilliseconds);
                if (watcher && supervisors.Count > 0 && AnyLost(supervisors))
                {
                    Reattach(supervisors);
                    health = new LinkHealth(stack.Devices);   // the new devices count from zero
                    continue;
                }
                if (watcher) health.Check(_logger);
                if (n == 0) continue;
                if (multi is not null) multi.OnReceived(queue, batch.AsSpan(0, n));
                else _sink.OnReceived(batch.AsSpan(0, n));
                if (watcher) Interlocked.Exchange(ref _receiveThreadAllocated, GC.GetAllocatedBytesForCurrentThread());
                Interlocked.Add(ref _framesDelivered, n);
            }
        }
        catch (Exception ex) when (!_stopRequested)
        {
            // A dead device or a failing sink ends the daemon with a failure status; systemd restarts it if asked to.
            DaemonLog.ReceiveLoopFailed(_logger, device.Name, ex);
            _status.Fail(ExitCodes.Failure);
            _lifetime.StopApplication();
        }
        catch (Exception) when (_stopRequested)
        {
            // The device was closed under a stuck Receive during stop: expected.
        }
    }

    // The engine reads the link (ReadsQueues): every PollMilliseconds, what queue 0's receive thread does between batches
    // otherwise: the health check, and the re-attach of a lost link (the engine's reads through the supervisors mark it lost).
    private void WatchLoop()
    {
        var stack = _stack!;
        var multi = (IMultiQueueFrameSink)_sink;
        var health = new LinkHealth(stack.Devices);
        var supervisors = stack.Supervisors;
        try
        {
            while (!_stopRequested)
            {
                _stopEvent.Wait(PollMilliseconds);
                if (_stopRequested) break;
                if (supervisors.Count > 0 && AnyLost(supervisors))
                {
                    Reattach(supervisors);
                    multi.QueuesReplaced();                   // the engines poll the new descriptors now
                    health = new LinkHealth(stack.Devices);   // the new devices count from zero
                    continue;
                }
                health.Check(_logger);
            }
        }
        catch (Exception ex) when (!_stopRequested)
        {
            DaemonLog.ReceiveLoopFailed(_logger, stack.Device.Name, ex);
            _status.Fail(ExitCodes.Failure);
            _lifetime.StopApplication();
        }
    }

    private static long InterfaceDownDrops(IReadOnlyList<SupervisedDevice> supervisors)
    {
        long n = 0;
        foreach (var s in supervisors) n += s.Statistics.Drops(DropReason.InterfaceDown);
        return n;
    }

    // The device is gone (TAP deleted, pcap device unplugged): one line; the offloaded connections fail as on a hardware
    // failure (spec §6.6, docs/target.md "Device faults"), the control socket stays up (status MEDIA_DISCONNECT), and the
    // device is opened again with a growing delay until it is back or the daemon stops. Runs on queue 0's receive thread.
    // With several queues all are lost, closed and opened again together (a TAP's queues go with the TAP).
    private void Reattach(IReadOnlyList<SupervisedDevice> supervisors)
    {
        var lostAt = DateTime.UtcNow;
        Interlocked.Increment(ref _linkLosses);
        var supervisor = supervisors[0];
        foreach (var s in supervisors)
            if (s.IsLost) { supervisor = s; break; }
        foreach (var s in supervisors) s.ForceLost(supervisor.LostReason);
        long droppedBefore = InterfaceDownDrops(supervisors);
        DaemonLog.LinkLost(_logger, supervisor.Name, supervisor.LostReason, _link.ReattachDelayMilliseconds, _link.ReattachMaxDelayMilliseconds);
        foreach (var s in supervisors) s.CloseLost();
        var target = _sink as TargetFrameSink;
        int failed = target?.FailAllConnections() ?? 0;
        if (failed > 0) DaemonLog.LinkLostConnectionsFailed(_logger, supervisor.Name, failed);
        int delay = _link.ReattachDelayMilliseconds;
        int attempts = 0;
        string lastError = "";
        while (!_stopRequested)
        {
            for (int waited = 0; waited < delay && !_stopRequested; waited += PollMilliseconds) Thread.Sleep(Math.Min(PollMilliseconds, delay - waited));
            if (_stopRequested) return;
            attempts++;
            // Initiates that raced the loss are failed too: nothing offloaded may wait for a link that is not there.
            target?.FailAllConnections();
            try
            {
                var devices = LinkStackFactory.ReopenQueues(_link, supervisor.Name, supervisors.Count);
                long dropped = InterfaceDownDrops(supervisors) - droppedBefore;
                for (int i = 0; i < devices.Length; i++) supervisors[i].Replace(devices[i]);
                Interlocked.Increment(ref _linkReattaches);
                _metrics.DetachLink();
                AttachMetrics(_stack!);
                DaemonLog.LinkReattached(_logger, supervisor.Name, attempts, (long)(DateTime.UtcNow - lostAt).TotalMilliseconds, dropped, devices[0].ToString() ?? devices[0].Name);
                return;
            }
            catch (Exception ex) when (ex is Configuration.DaemonConfigurationException or LinkDeviceException or IOException or DllNotFoundException)
            {
                string error = ex.Message;
                if (error != lastError) DaemonLog.LinkReattachFailed(_logger, supervisor.Name, attempts, error);
                lastError = error;
            }
            delay = Math.Min(delay * 2, _link.ReattachMaxDelayMilliseconds);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stack is not { } stack) return;

        DaemonLog.StopStep(_logger, 1, "frame sink drains (upload-all, pending requests complete) while the link runs");
        try
        {
            await _sink.DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            DaemonLog.DrainTimedOut(_logger);
        }

        DaemonLog.StopStep(_logger, 2, "receive loop stops");
        StopReceiveLoop(stack);

        DaemonLog.StopStep(_logger, 3, "frame sink detaches");
        _sink.Detach();

        DaemonLog.StopStep(_logger, 4, "capture flushed and closed, devices closed");
        string statistics = stack.StatisticsSummary();
        Close();
        DaemonLog.Stopped(_logger, statistics);
    }

    // The control messages go to a second interface of the same file (docs/control.md, "Capture").
    private void AttachControlCapture(Link.Decorators.CaptureDevice capture)
    {
        if (!_capture.Control) return;
        if (!capture.SupportsRecordInterfaces)
        {
            DaemonLog.ControlCaptureUnsupported(_logger, _capture.Format.ToString().ToLowerInvariant());
            return;
        }
        capture.AddRecordQueue(_controlCapture.Queue);
        _controlCapture.Attached = true;
        _metrics.AttachControlCapture(_controlCapture.Queue);
        DaemonLog.ControlCaptureOn(_logger, ControlCapture.InterfaceName);
    }

    private void StopReceiveLoop(LinkStack stack)
    {
        _stopRequested = true;
        _stopEvent.Set();
        if (_threads.Length == 0) return;
        bool stuck = false;
        foreach (var thread in _threads) stuck |= !thread.Join(JoinMilliseconds);
        if (stuck)
        {
            // Receive is bounded by PollMilliseconds, so this is a device bug; closing it releases the thread.
            DaemonLog.ReceiveLoopStuck(_logger, stack.Device.Name, JoinMilliseconds);
            Close();
            foreach (var thread in _threads) thread.Join(JoinMilliseconds);
        }
        DaemonLog.ReceiveLoopStopped(_logger, stack.Device.Name, FramesDelivered);
    }

    private void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0 || _stack is not { } stack) return;
        _metrics.DetachLink();
        stack.Dispose();                // per queue, queue 0 last: tracing -> capture (control records, flush, close) -> impairment -> device
        if (_controlCapture.Attached)
        {
            _controlCapture.Attached = false;
            DaemonLog.ControlCaptureClosed(_logger, _controlCapture.Queue.Written, _controlCapture.Queue.Dropped);
        }
        stack.MemoryPeer?.Dispose();
    }

    /// <summary>Closes the stack if the host never ran <see cref="StopAsync"/> (a later service failed to start).</summary>
    public void Dispose()
    {
        _stopRequested = true;
        _stopEvent.Set();
        foreach (var t in _threads)
            if (t.IsAlive && !t.Join(JoinMilliseconds)) DaemonLog.ReceiveLoopStuck(_logger, _stack?.Device.Name ?? "?", JoinMilliseconds);
        Close();
        _stopEvent.Dispose();
    }

    /// <summary>
    /// Watches the device's counters from the receive loop (every batch, at least every <see cref="PollMilliseconds"/>;
    /// two counter reads, no allocation) and logs one line when sends start failing because the interface is down
    /// (e.g. <c>ip link set TAP down</c>: the TAP answers EIO, each frame a counted <see cref="DropReason.InterfaceDown"/>)
    /// and one line when frames leave again. Nothing else changes: the target keeps its connections, TCP retransmits
    /// what was dropped once the interface is back.
    /// </summary>
    private struct LinkHealth(IReadOnlyList<ILinkDevice> devices)
    {
        private long _downDrops = Drops(devices);
        private long _framesOut = FramesOut(devices);
        private long _downSince;
        private bool _down;

        private static long Drops(IReadOnlyList<ILinkDevice> devices)
        {
            long n = 0;
            for (int i = 0; i < devices.Count; i++) n += devices[i].Statistics.Drops(DropReason.InterfaceDown);
            return n;
        }

        private static long FramesOut(IReadOnlyList<ILinkDevice> devices)
        {
            long n = 0;
            for (int i = 0; i < devices.Count; i++) n += devices[i].Statistics.FramesOut;
            return n;
        }

        public void Check(ILogger logger)
        {
            long drops = Drops(devices);
            long framesOut = FramesOut(devices);
            if (drops != _downDrops && !_down)
            {
                _down = true;
                _downSince = _downDrops;
                DaemonLog.LinkDown(logger, devices[0].Name);
            }
            else if (_down && drops == _downDrops && framesOut != _framesOut)
            {
                _down = false;
                DaemonLog.LinkUp(logger, devices[0].Name, drops - _downSince);
            }
            _downDrops = drops;
            _framesOut = framesOut;
        }
    }
}
