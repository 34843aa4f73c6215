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
    private readonly FrameBuffer[] _batch = new FrameBuffer[BatchSize];

    private LinkStack? _stack;
    private Thread? _thread;
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

    /// <summary>Frames handed to the sink so far.</summary>
    internal long FramesDelivered => Interlocked.Read(ref _framesDelivered);

    /// <summary>
    /// Bytes the receive thread had allocated after its latest batch (GC.GetAllocatedBytesForCurrentThread):
    /// flat while frames flow, because the loop allocates nothing per frame.
    /// </summary>
    internal long ReceiveThreadAllocatedBytes => Interlocked.Read(ref _receiveThreadAllocated);

    /// <summary>True while the receive thread runs.</summary>
    internal bool IsReceiving => _thread is { IsAlive: true };

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var stack = _factory.Open(_link, _capture, _impairment, _pool);
        _stack = stack;
        DaemonLog.LinkOpened(_logger, stack.Description);
        if (stack.Capture is { } cap)
        {
            DaemonLog.CaptureOpened(_logger, cap.CurrentPath ?? _capture.File, _capture.Format.ToString().ToLowerInvariant());
            AttachControlCapture(cap);
        }
        if (!string.IsNullOrWhiteSpace(_impairment.Ingress) || !string.IsNullOrWhiteSpace(_impairment.Egress))
            DaemonLog.ImpairmentOn(_logger, _impairment.Ingress, _impairment.Egress, _impairment.Seed);

        for (int i = 0; i < _batch.Length; i++) _batch[i] = _pool.Rent();
        _sink.Attach(stack.Top, _pool);
        _metrics.AttachLink(stack.Device.Name, stack.Device.Statistics, () => FramesDelivered);

        // A dedicated thread, not the pool: Receive blocks in poll(2) and the loop runs for the daemon's life.
        _thread = new Thread(ReceiveLoop) { IsBackground = true, Name = "oe-rx " + stack.Device.Name };
        _thread.Start(stack.Top);
        DaemonLog.ReceiveLoopStarted(_logger, stack.Device.Name, _thread.Name!);
        return Task.CompletedTask;
    }

    /// <summary>True while the device is lost and the daemon tries to open it again (status: MEDIA_DISCONNECT).</summary>
    internal bool IsLinkLost => _stack?.Supervisor is { IsLost: true };

    /// <summary>Times the device was lost, and opened again, since start.</summary>
    internal int LinkLosses => Volatile.Read(ref _linkLosses);

    /// <inheritdoc cref="LinkLosses"/>
    internal int LinkReattaches => Volatile.Read(ref _linkReattaches);

    private int _linkLosses;
    private int _linkReattaches;

    private void ReceiveLoop(object? state)
    {
        var device = (ILinkDevice)state!;
        var batch = _batch;
        var health = new LinkHealth(_stack!.Device);
        var supervisor = _stack.Supervisor;
        try
        {
            while (!_stopRequested)
            {
                int n = device.Receive(batch, PollMilliseconds);
                if (supervisor is { IsLost: true })
                {
                    Reattach(supervisor);
                    health = new LinkHealth(_stack.Device);   // the new device counts from zero
                    continue;
                }
                health.Check(_logger);
                if (n == 0) continue;
                _sink.OnReceived(batch.AsSpan(0, n));
                Interlocked.Exchange(ref _receiveThreadAllocated, GC.GetAllocatedBytesForCurrentThread());
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

    // The device is gone (TAP deleted, pcap device unplugged): one line; the offloaded connections fail as on a hardware
    // failure (spec §6.6, docs/target.md "Device faults"), the control socket stays up (status MEDIA_DISCONNECT), and the
    // device is opened again with a growing delay until it is back or the daemon stops. Runs on the receive thread.
    private void Reattach(SupervisedDevice supervisor)
    {
        var lostAt = DateTime.UtcNow;
        Interlocked.Increment(ref _linkLosses);
        long droppedBefore = supervisor.Statistics.Drops(DropReason.InterfaceDown);
        DaemonLog.LinkLost(_logger, supervisor.Name, supervisor.LostReason, _link.ReattachDelayMilliseconds, _link.ReattachMaxDelayMilliseconds);
        supervisor.CloseLost();
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
                var device = LinkStackFactory.Reopen(_link, supervisor.Name);
                long dropped = supervisor.Statistics.Drops(DropReason.InterfaceDown) - droppedBefore;
                supervisor.Replace(device);
                Interlocked.Increment(ref _linkReattaches);
                _metrics.DetachLink();
                _metrics.AttachLink(supervisor.Name, supervisor.Statistics, () => FramesDelivered);
                DaemonLog.LinkReattached(_logger, supervisor.Name, attempts, (long)(DateTime.UtcNow - lostAt).TotalMilliseconds, dropped, device.ToString() ?? device.Name);
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
        string statistics = stack.Device.Statistics.ToString();
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
        if (_thread is not { } thread) return;
        if (!thread.Join(JoinMilliseconds))
        {
            // Receive is bounded by PollMilliseconds, so this is a device bug; closing it releases the thread.
            DaemonLog.ReceiveLoopStuck(_logger, stack.Device.Name, JoinMilliseconds);
            Close();
            thread.Join(JoinMilliseconds);
        }
        DaemonLog.ReceiveLoopStopped(_logger, stack.Device.Name, FramesDelivered);
    }

    private void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0 || _stack is not { } stack) return;
        _metrics.DetachLink();
        stack.Top.Dispose();            // tracing -> capture (control records, flush, close) -> impairment -> device
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
        if (_thread is { IsAlive: true } t && !t.Join(JoinMilliseconds)) DaemonLog.ReceiveLoopStuck(_logger, _stack?.Device.Name ?? "?", JoinMilliseconds);
        Close();
    }

    /// <summary>
    /// Watches the device's counters from the receive loop (every batch, at least every <see cref="PollMilliseconds"/>;
    /// two counter reads, no allocation) and logs one line when sends start failing because the interface is down
    /// (e.g. <c>ip link set TAP down</c>: the TAP answers EIO, each frame a counted <see cref="DropReason.InterfaceDown"/>)
    /// and one line when frames leave again. Nothing else changes: the target keeps its connections, TCP retransmits
    /// what was dropped once the interface is back.
    /// </summary>
    private struct LinkHealth(ILinkDevice device)
    {
        private long _downDrops = device.Statistics.Drops(DropReason.InterfaceDown);
        private long _framesOut = device.Statistics.FramesOut;
        private long _downSince;
        private bool _down;

        public void Check(ILogger logger)
        {
            long drops = device.Statistics.Drops(DropReason.InterfaceDown);
            long framesOut = device.Statistics.FramesOut;
            if (drops != _downDrops && !_down)
            {
                _down = true;
                _downSince = _downDrops;
                DaemonLog.LinkDown(logger, device.Name);
            }
            else if (_down && drops == _downDrops && framesOut != _framesOut)
            {
                _down = false;
                DaemonLog.LinkUp(logger, device.Name, drops - _downSince);
            }
            _downDrops = drops;
            _framesOut = framesOut;
        }
    }
}
