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
    private readonly TargetEngine[] _loops;
    private readonly Runner[] _runners;
    private readonly ILinkDevice _device;
    private readonly ILogger? _logger;
    private readonly Lock _pollLock = new();
    private volatile bool _stop;
    private bool _started;
    private TimeProvider _time = TimeProvider.System;
    private long _timeOrigin;
    private int _disposed;

    /// <summary>Creates the target over <paramref name="device"/> (one link queue, one engine loop); nothing runs until
    /// <see cref="Start(TimeProvider?)"/> or <see cref="Poll"/>.</summary>
    /// <exception cref="ArgumentException">The options are invalid (the message lists every problem).</exception>
    public OffloadTarget(ILinkDevice device, OffloadTargetOptions? options = null, CompletionQueue? completions = null, ILogger? logger = null)
        : this([device ?? throw new ArgumentNullException(nameof(device))], options, completions, logger)
    {
    }

    /// <summary>
    /// Creates the target over the queues of one link (a multi-queue TAP, an AF_PACKET fanout group, a multi-queue
    /// <c>MemoryLink</c>): one engine loop per queue, each owning the connections whose 4-tuple hashes to it
    /// (docs/target.md, "Several link queues"). Queue 0's device gives the name, MAC and MTU.
    /// </summary>
    /// <exception cref="ArgumentException">No queue, or the options are invalid.</exception>
    public OffloadTarget(IReadOnlyList<ILinkDevice> queues, OffloadTargetOptions? options = null, CompletionQueue? completions = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(queues);
        if (queues.Count is < 1 or > MaxQueues) throw new ArgumentException($"A target runs over 1 to {MaxQueues} link queues, not {queues.Count}.", nameof(queues));
        for (int i = 0; i < queues.Count; i++)
            if (queues[i] is null) throw new ArgumentException($"Link queue {i} is null.", nameof(queues));
        options ??= new OffloadTargetOptions();
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("Invalid offload target options: " + string.Join(" ", errors), nameof(options));
        _device = queues[0];
        _logger = logger;
        Options = options;
        Completions = completions ?? new CompletionQueue();
        _loops = new TargetEngine[queues.Count];
        _engine = _loops[0] = new TargetEngine(queues[0], options, Completions, logger, null, 0, queues.Count);
        for (int i = 1; i < queues.Count; i++) _loops[i] = new TargetEngine(queues[i], options, Completions, logger, _engine, i, queues.Count);
        foreach (var loop in _loops) loop.JoinLoops(_loops);
        _runners = new Runner[queues.Count];
        for (int i = 0; i < queues.Count; i++) _runners[i] = new Runner(this, _loops[i]);
        RegisterMetrics();
    }

    /// <summary>The most link queues (engine loops) a target runs over (the daemon's <c>Nic:Queues</c> limit).</summary>
    public const int MaxQueues = 64;

    /// <summary>The options in force.</summary>
    public OffloadTargetOptions Options { get; }

    /// <summary>Where completions and indications are queued for the host.</summary>
    public CompletionQueue Completions { get; }

    /// <summary>Engine loops (= link queues) the target runs.</summary>
    public int QueueCount => _loops.Length;

    /// <summary>Offloaded TCP connections now.</summary>
    public int ConnectionCount => _engine.TotalConnectionCount;

    /// <summary>Where the offloaded connections take receive storage while they buffer data (an idle connection holds
    /// none): its counters say how much is held now.</summary>
    public ReceiveBufferPool ReceiveBufferPool => _engine.ReceiveBufferPool;

    /// <summary>Offloaded connections per engine loop now (index = queue).</summary>
    public int[] LoopConnectionCounts()
    {
        var counts = new int[_loops.Length];
        for (int i = 0; i < counts.Length; i++) counts[i] = _loops[i].ConnectionCount;
        return counts;
    }

    /// <summary>Each engine loop's counters now (index = queue): its connections, frames it processed and sent, frames read
    /// on its queue for another loop and handed over, hand-offs dropped. For `offloademu status` (docs/target.md).</summary>
    public TargetLoopCounters[] LoopCounters()
    {
        var counters = new TargetLoopCounters[_loops.Length];
        for (int i = 0; i < counters.Length; i++)
        {
            var l = _loops[i];
            counters[i] = new TargetLoopCounters(l.ConnectionCount, Volatile.Read(ref l.FramesIn), Volatile.Read(ref l.FramesOut),
                Interlocked.Read(ref l.HandedOff), Interlocked.Read(ref l.HandOffDrops));
        }
        return counters;
    }

    /// <summary>Frames the engine loops handed to their transmit threads (<see cref="OffloadTargetOptions.TransmitThread"/>;
    /// 0 without).</summary>
    public long TransmitThreadFrames => Sum(static l => l.Transmitter is { } t ? Volatile.Read(ref t.FramesHandedOver) : 0);

    /// <summary>Frames the engine loops wrote themselves although they have a transmit thread (small rounds with the
    /// thread idle, <see cref="OffloadTargetOptions.TransmitInlineFrames"/>).</summary>
    public long TransmitInlineFrames => Sum(static l => Volatile.Read(ref l.FramesWrittenInline));

    /// <summary>Times a loop woke its sleeping transmit thread.</summary>
    public long TransmitThreadWakeUps => Sum(static l => l.Transmitter is { } t ? Volatile.Read(ref t.WakeUps) : 0);

    /// <summary>Times a loop found its transmit ring full and waited for room (the device was the bottleneck).</summary>
    public long TransmitRingFullWaits => Sum(static l => l.Transmitter is { } t ? Interlocked.Read(ref t.RingFullWaits) : 0);

    /// <summary>Frames read on one queue for a connection another loop owns, handed to that loop (multi-queue only).</summary>
    public long HandedOffFrames => Sum(static l => Interlocked.Read(ref l.HandedOff));

    /// <summary>Frames dropped because the owning loop's hand-off ring was full (also in <see cref="DroppedFrames"/>).</summary>
    public long HandOffDrops => Sum(static l => Interlocked.Read(ref l.HandOffDrops));

    /// <summary>RSTs the TCP machine wanted to send that the target suppressed (only the abortive disconnect may send one).</summary>
    public long SuppressedResets => Sum(static l => Interlocked.Read(ref l.SuppressedResets));

    /// <summary>Frames handed up to the host on the non-offload path.</summary>
    public long FramesUp => Sum(static l => Interlocked.Read(ref l.FramesUp));

    /// <summary>Frames dropped (full rings, oversized).</summary>
    public long DroppedFrames => Sum(static l => Interlocked.Read(ref l.DroppedFrames));

    /// <summary>The link device does segmentation offload (a TAP in that mode): connections send super-segments with
    /// partial checksums, and super-frames and device-vouched checksums are accepted (docs/target.md).</summary>
    public bool SegmentationOffload => _engine.SegmentationOffload;

    /// <summary>Super-segments sent (segmentation offload; each once, the TCP/IP statistics count its wire segments).</summary>
    public long SuperFramesOut => Sum(static l => Volatile.Read(ref l.SuperFramesOut));

    /// <summary>Super-frames received for offloaded connections and processed whole (segmentation offload).</summary>
    public long SuperFramesIn => Sum(static l => Volatile.Read(ref l.SuperFramesIn));

    /// <summary>Received segments of offloaded connections whose TCP checksum the device vouched for (partial or
    /// validated) and which were not verified (segmentation offload).</summary>
    public long ChecksumsTrusted => Sum(static l => Volatile.Read(ref l.ChecksumsTrusted));

    /// <summary>Receive indications whose buffer the connection filled straight from the received frames (held bytes:
    /// not copied into the receive ring and out of it again).</summary>
    public long HeldIndications => Sum(static l => Volatile.Read(ref l.HeldIndications));

    /// <summary>Bytes those indications carried that were copied only once, frame to indication buffer.</summary>
    public long HeldIndicationBytes => Sum(static l => Volatile.Read(ref l.HeldIndicationBytes));

    /// <summary>Indication NBLs (and returned BufferedData) the host still holds.</summary>
    public long IndicatedBuffersHeldByHost => _engine.IndicationBuffers.Outstanding;

    private long Sum(Func<TargetEngine, long> counter)
    {
        long total = 0;
        foreach (var loop in _loops) total += counter(loop);
        return total;
    }

    // ---- running ------------------------------------------------------------------------------------------------------

    /// <summary>Starts the device reader and engine threads, timed by <paramref name="time"/> (default: system).</summary>
    public void Start(TimeProvider? time = null) => Start(time, readDevice: true);

    /// <summary>Starts the engine threads (one per queue) and, when <paramref name="readDevice"/>, what reads the queues.
    /// With <paramref name="readDevice"/> false something else reads the device (the daemon's link service) and hands the
    /// frames over with <see cref="DeliverFrames(ReadOnlySpan{FrameBuffer})"/> (or, one reader per queue, <see cref="DeliverFrames(int, ReadOnlySpan{FrameBuffer})"/>); the target still transmits on the queues itself.</summary>
    public void Start(TimeProvider? time, bool readDevice)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_started) throw new InvalidOperationException("The offload target is already running.");
        _started = true;
        _time = time ?? TimeProvider.System;
        _timeOrigin = _time.GetTimestamp();
        _externalReader = !readDevice;
        _engine.Barrier.Threaded = true;
        foreach (var runner in _runners) runner.Start(readDevice);
    }

    /// <summary>
    /// Hands received frames to the engine when the target was started without its own reader: each frame is copied
    /// into a buffer of the target's pool (the caller keeps its buffers) and queued to the loop that owns its connection.
    /// A full receive ring drops the frame and counts it (<see cref="DroppedFrames"/>, the device's QueueFull drops), as
    /// does running out of the receive buffers preallocated at construction: this path never allocates. Returns the
    /// frames accepted. Call from one thread.
    /// </summary>
    public int DeliverFrames(ReadOnlySpan<FrameBuffer> frames)
    {
        if (!_externalReader) throw new InvalidOperationException("DeliverFrames is for a target started with readDevice: false.");
        var pool = _engine.FramePool;
        int accepted = 0;
        ulong woken = 0;
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
            copy.Offload = frame.Offload;
            int owner = _loops.Length == 1 ? 0 : Math.Max(0, LoopHash.LoopOfFrame(copy.Span, _loops.Length));
            if (_loops[owner].ReceivedFrames.TryEnqueue(copy))
            {
                accepted++;
                woken |= 1UL << owner;
                continue;
            }
            pool.Return(copy);
            CountReceiveDrop(DropReason.QueueFull);
        }
        for (int i = 0; woken != 0; i++, woken >>= 1)
            if ((woken & 1) != 0) _runners[i].Wake();
        return accepted;
    }

    /// <summary>
    /// As <see cref="DeliverFrames(ReadOnlySpan{FrameBuffer})"/> for frames read on link queue <paramref name="queue"/> by
    /// an external reader that reads each queue on a thread of its own (the daemon's link service over a multi-queue TAP
    /// or a fanout group): each frame is copied into a buffer of its owner loop's pool and queued to that loop; a frame
    /// for a connection another loop owns counts as handed off by <paramref name="queue"/>'s loop (a full ring there as a
    /// hand-off drop). One thread per queue may call this concurrently (the rings and pools are thread-safe); never
    /// allocates.
    /// </summary>
    public int DeliverFrames(int queue, ReadOnlySpan<FrameBuffer> frames)
    {
        if (!_externalReader) throw new InvalidOperationException("DeliverFrames is for a target started with readDevice: false.");
        ArgumentOutOfRangeException.ThrowIfNegative(queue);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(queue, _loops.Length);
        var reader = _loops[queue];
        int accepted = 0;
        ulong woken = 0;
        foreach (var frame in frames)
        {
            int owner = _loops.Length == 1 ? 0 : LoopHash.LoopOfFrame(frame.Span, _loops.Length);
            if (owner < 0) owner = queue;   // not a TCP frame of a 4-tuple: the loop that read it handles it
            var loop = _loops[owner];
            if (!loop.FramePool.TryRent(out var copy))
            {
                CountReceiveDrop(reader, owner != queue, DropReason.QueueFull);
                continue;
            }
            if (frame.Length > copy.Array.Length)
            {
                loop.FramePool.Return(copy);
                CountReceiveDrop(reader, false, DropReason.TooLong);
                continue;
            }
            frame.Span.CopyTo(copy.Array);
            copy.Length = frame.Length;
            copy.TimestampNs = frame.TimestampNs;
            copy.Offload = frame.Offload;   // a super-frame's virtio-net header (segmentation offload on a multi-queue TAP)
            if (loop.ReceivedFrames.TryEnqueue(copy))
            {
                accepted++;
                if (owner != queue) Interlocked.Increment(ref reader.HandedOff);
                woken |= 1UL << owner;
                continue;
            }
            loop.FramePool.Return(copy);
            CountReceiveDrop(reader, owner != queue, DropReason.QueueFull);
        }
        for (int i = 0; woken != 0; i++, woken >>= 1)
            if ((woken & 1) != 0) _runners[i].Wake();
        return accepted;
    }

    /// <summary>Makes every engine loop run a round now; one that sleeps on its device's readiness descriptor reads the
    /// descriptor again (the device replaced what it reads from: the daemon opened a lost TAP again). Any thread.</summary>
    public void WakeLoops()
    {
        if (!_started) return;
        foreach (var runner in _runners) runner.Wake();
    }

    private void CountReceiveDrop(TargetEngine reader, bool handOff, DropReason reason)
    {
        Interlocked.Increment(ref reader.DroppedFrames);
        if (handOff) Interlocked.Increment(ref reader.HandOffDrops);
        reader.Device.Statistics.CountDrop(reason);
    }

    /// <summary>
    /// Manual mode: runs one engine round at <paramref name="now"/> on every loop in turn (0 first): queued requests,
    /// frames waiting on the device queues, due timers, transmissions. Returns the amount of work done (0 = idle).
    /// </summary>
    public int Poll(Instant now)
    {
        if (_started) throw new InvalidOperationException("Poll is for manual mode; the target was started with its own threads.");
        lock (_pollLock)
        {
            int work = 0;
            foreach (var runner in _runners) work += runner.Loop.RunOnce(now, readDevice: true, runner.PollBatch);
            return work;
        }
    }

    /// <summary>Manual mode: the earliest instant a connection timer needs <see cref="Poll"/> (Instant.MaxValue = none).</summary>
    public Instant NextWake
    {
        get
        {
            lock (_pollLock) return EarliestWake();
        }
    }

    private Instant EarliestWake()
    {
        var next = Instant.MaxValue;
        foreach (var loop in _loops) next = Instant.Min(next, loop.NextWake);
        return next;
    }

    private bool _externalReader;

    /// <summary>A received frame the engine never saw: counted by the target and by the device, by reason.</summary>
    private void CountReceiveDrop(DropReason reason)
    {
        Interlocked.Increment(ref _engine.DroppedFrames);
        _device.Statistics.CountDrop(reason);
    }

    private Instant Now => Instant.FromMicroseconds((long)(_time.GetElapsedTime(_timeOrigin).Ticks / 10));

    /// <summary>One engine loop's thread(s) and wake-up: the loop over its link queue.</summary>
    private sealed class Runner
    {
        private readonly OffloadTarget _target;
        private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
        private int _wakePending;
        // Inline mode (a device with a readiness descriptor): the engine thread reads the device itself and sleeps in
        // poll(2) on it and an eventfd; _sleeping says it does (or is about to), so only then does a producer pay the write(2).
        private LinkWaiter? _waiter;
        private int _sleeping;
        private Thread? _engineThread;
        private Thread? _readerThread;
        private TransmitThread? _transmitter;

        public Runner(OffloadTarget target, TargetEngine loop)
        {
            _target = target;
            Loop = loop;
            PollBatch = new FrameBuffer[ReadBatch];
            for (int i = 0; i < PollBatch.Length; i++) PollBatch[i] = loop.FramePool.Rent();
        }

        public TargetEngine Loop { get; }

        public FrameBuffer[] PollBatch { get; }

        private ILinkDevice Device => Loop.Device;

        private string ThreadName(string prefix)
            => Loop.Loops.Length == 1 ? $"{prefix} {Device.Name}" : $"{prefix} {Device.Name} q{Loop.Index}";

        public void Start(bool readDevice)
        {
            Loop.WakeUp = Wake;
            // A device that announces its frames on a descriptor is read by the engine thread itself: no reader thread, no
            // ring hand-off and no cross-thread wake-up per received batch (each ACK of a bulk send used to wake the reader,
            // which then woke the engine). Other devices (in-memory, pcap, impairment) keep the reader thread.
            if (readDevice) _waiter = LinkWaiter.TryCreate(Device);
            if (_target.Options.TransmitThread)
            {
                _transmitter = new TransmitThread(Device, Loop.FramePool, _target.Options.TransmitRingCapacity, _target._logger,
                    ThreadName("oe-target-tx"));
                Loop.AttachTransmitter(_transmitter);
                _transmitter.Start();
            }
            _engineThread = _waiter is not null
                ? new Thread(InlineEngineLoop) { IsBackground = true, Name = ThreadName("oe-target") }
                : new Thread(EngineLoop) { IsBackground = true, Name = ThreadName("oe-target") };
            if (readDevice && _waiter is null)
            {
                _readerThread = new Thread(ReaderLoop) { IsBackground = true, Name = ThreadName("oe-target-rx") };
                _readerThread.Start();
            }
            _engineThread.Start();
        }

        private static readonly Action<object?> s_wakeNow = static r => ((Runner)r!).WakeNow();

        /// <summary>How long after a round that emptied the device the next rounds skip reading it (InlineEngineLoop).</summary>
        private const long ReadSkipMicroseconds = 10;

        // Options.InlineCompletions: this loop's thread runs the completion queue itself (set on the engine thread).
        private bool _drainCompletions;

        private void AttachCompletions()
        {
            if (!_target.Options.InlineCompletions || _target.Completions.IsManual) return;
            _target.Completions.AttachEngineThread();
            _drainCompletions = true;
        }

        public void Wake()
        {
            // A request made by a host handler on a completion worker (a receive completion whose handler sends the reply
            // and posts the next receive) wakes the engine once, when the handler returns: on a small machine every
            // wake-up can preempt the handler, and the engine would run once per request.
            if (CompletionQueue.DeferToItemEnd(s_wakeNow, this)) return;
            WakeNow();
        }

        private void WakeNow()
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
            var next = Loop.NextWake;
            return next == Instant.MaxValue ? 100_000 : Math.Clamp(next.Microseconds - _target.Now.Microseconds, 0, 100_000);
        }

        /// <summary>A loop other than the coordinator parks here while a tree operation runs (true: it did).</summary>
        private bool ParkIfAsked()
        {
            if (Loop.Index == 0 || !Loop.Barrier.Requested) return false;
            Loop.Barrier.Park();
            return true;
        }

        /// <summary>Busy poll (Options.BusyPollMicroseconds): rounds until one does work (true) or the time is up (false).</summary>
        private bool BusyPoll(bool readDevice, Span<FrameBuffer> batch)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            long limit = _target.Options.BusyPollMicroseconds * System.Diagnostics.Stopwatch.Frequency / 1_000_000;
            while (!_target._stop && System.Diagnostics.Stopwatch.GetTimestamp() - start < limit)
            {
                if (Loop.RunOnce(_target.Now, readDevice, batch) > 0) return true;
                if (_drainCompletions && _target.Completions.TryDrainOnEngine()) return true;
                if (Loop.Index != 0 && Loop.Barrier.Requested) return true;
                // Give the core to any other runnable thread (the host stack, the application, the peer on a small machine)
                // between looks: sched_yield returns at once when nobody else wants it.
                Thread.Yield();
            }
            return false;
        }

        private void EngineLoop()
        {
            var noBatch = Array.Empty<FrameBuffer>();
            bool busyPoll = _target.Options.BusyPollMicroseconds > 0;
            AttachCompletions();
            while (!_target._stop)
            {
                if (ParkIfAsked()) continue;
                Interlocked.Exchange(ref _wakePending, 0);
                int work = Loop.RunOnce(_target.Now, readDevice: false, noBatch);
                // Inline completions: what the round posted runs here before the next round (requests its handlers make
                // are then taken by that round, without a wake-up).
                if (_drainCompletions && _target.Completions.TryDrainOnEngine()) work++;
                if (work > 0) continue;
                if (busyPoll && BusyPoll(readDevice: false, noBatch)) continue;
                if (Loop.Index != 0 && Loop.Barrier.Requested) continue;
                long waitUs = MicrosecondsToNextWake();
                if (waitUs > 0) _wake.Wait(TimeSpan.FromTicks(waitUs * 10));
            }
            DrainOnStop();
        }

        private void DrainOnStop()
        {
            try
            {
                Loop.DrainOnStop();
            }
            catch (Exception ex) when (ex is ObjectDisposedException or LinkDeviceException)
            {
                // The device went first: nothing can go out any more.
            }
        }

        // Inline mode: the engine reads the device in every round (until EAGAIN) and sleeps in poll(2) on the device and
        // the wake eventfd.
        private void InlineEngineLoop()
        {
            var waiter = _waiter!;
            var batch = PollBatch;
            bool busyPoll = _target.Options.BusyPollMicroseconds > 0;
            bool readDevice = true;
            // A round reads the device until it is empty (EAGAIN). The rounds right after it (the requests and
            // completions that reading caused: a reply, a receive post) skip the read for a few microseconds: on a
            // request/response turn that read would find nothing, and poll(2) finds what comes meanwhile before the loop
            // sleeps. Saves one or two read(2) calls per turn; frames wait at most ReadSkipMicroseconds or one round.
            long drainedAt = long.MinValue / 2;   // far enough back that the subtraction cannot overflow
            AttachCompletions();
            while (!_target._stop)
            {
                try
                {
                    if (ParkIfAsked()) continue;
                    var now = _target.Now;
                    bool read = readDevice && now.Microseconds - drainedAt > ReadSkipMicroseconds;
                    int work = Loop.RunOnce(now, read, batch);
                    if (read) drainedAt = now.Microseconds;
                    if (_drainCompletions && _target.Completions.TryDrainOnEngine()) work++;
                    if (work > 0) continue;
                    if (busyPoll && BusyPoll(readDevice, batch)) continue;
                    Interlocked.Exchange(ref _sleeping, 1);
                    // Queued between the round and the announcement: that producer may have seen _sleeping = 0 and not signalled.
                    if (Loop.HasQueuedInput || _target._stop)
                    {
                        Volatile.Write(ref _sleeping, 0);
                        continue;
                    }
                    long waitUs = MicrosecondsToNextWake();
                    if (waitUs > 0) waiter.Wait((int)((waitUs + 999) / 1000));
                    Volatile.Write(ref _sleeping, 0);
                    drainedAt = long.MinValue / 2;   // after poll(2) the device is read again
                }
                catch (Exception ex) when (_target._stop || ex is ObjectDisposedException)
                {
                    return;   // closing the device under the loop ends it
                }
                catch (LinkDeviceException ex) when (readDevice)
                {
                    // The device failed for reading (as the reader thread would report it): requests, timers and completions
                    // go on without its input, as they did when only the reader thread ended.
                    if (_target._logger is not null) TargetLog.ReceiveFailed(_target._logger, Device.Name, ex);
                    readDevice = false;
                    waiter.StopWatchingDevice();
                }
            }
            DrainOnStop();
        }

        private void ReaderLoop()
        {
            var batch = new FrameBuffer[ReadBatch];
            var pool = Loop.FramePool;
            for (int i = 0; i < batch.Length; i++) batch[i] = pool.Rent();
            try
            {
                while (!_target._stop)
                {
                    int n = Device.Receive(batch, 100);
                    if (n <= 0) continue;
                    for (int i = 0; i < n; i++)
                    {
                        var frame = batch[i];
                        // Zero-copy hand-off (the engine returns the buffer after processing) when a replacement buffer
                        // is free; out of buffers, the frame is dropped and its buffer reused: this loop never allocates.
                        if (pool.TryRent(out var replacement))
                        {
                            if (Loop.ReceivedFrames.TryEnqueue(frame))
                            {
                                batch[i] = replacement;
                                continue;
                            }
                            pool.Return(replacement);
                        }
                        _target.CountReceiveDrop(DropReason.QueueFull);
                    }
                    Wake();
                }
            }
            catch (Exception ex) when (_target._stop || ex is ObjectDisposedException)
            {
                // Closing the device under the reader ends it.
            }
            catch (Exception ex)
            {
                if (_target._logger is not null) TargetLog.ReceiveFailed(_target._logger, Device.Name, ex);
            }
        }

        public void Stop()
        {
            _wake.Release();
            _waiter?.Signal();
        }

        public void Join()
        {
            // A host handler running on the engine (Options.InlineCompletions) that stops the target must not wait for itself.
            if (_engineThread != Thread.CurrentThread) _engineThread?.Join(5000);
            _readerThread?.Join(5000);
            // After the loop: it hands over nothing more; the frames it handed over still go out, then the buffers return.
            _transmitter?.Stop();
            _wake.Dispose();
            _waiter?.Dispose();
        }
    }

    /// <summary>The offload parameters in effect (the last accepted <see cref="SetParameters"/>, else the options').</summary>
    public OffloadParameters CurrentParameters => _engine.Parameters;

    /// <summary>The TCP configuration connections offloaded from now on run with (RTO floor, FIN_WAIT_2 time,
    /// challenge-ACK interval, …), read-only.</summary>
    public TcpConfig CurrentTcpConfig => _engine.TcpConfig;

    // ---- IOffloadTarget -----------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void Bind(IOffloadHost host)
    {
        _engine.Bind(host);
        for (int i = 1; i < _loops.Length; i++) _loops[i].Bind(host);
    }

    /// <inheritdoc/>
    public TcpConnectionOffloadCapabilities CurrentCapabilities => _engine.Capabilities;

    /// <inheritdoc/>
    public TcpConnectionOffloadCapabilities HardwareCapabilities => Options.Capabilities;

    /// <inheritdoc/>
    public NdisStatus SetParameters(OffloadParameters parameters)
    {
        var status = _engine.SetParameters(parameters);
        if (status == NdisStatus.Success)
            for (int i = 1; i < _loops.Length; i++) _loops[i].SetParameters(parameters);
        return status;
    }

    /// <inheritdoc/>
    public MacAddress MacAddress => _engine.NicMac;

    /// <inheritdoc/>
    public int Mtu => _device.Mtu;

    /// <inheritdoc/>
    public NdisStatus SendFrame(ReadOnlySpan<byte> frame) => _engine.EnqueueHostFrame(frame);

    /// <inheritdoc/>
    public TcpOffloadStatisticsSnapshot QueryTcpStatistics(bool ipv6)
    {
        if (_loops.Length == 1) return _engine.Stats(ipv6).Tcp.Snapshot();
        TcpOffloadStatisticsSnapshot sum = default;
        foreach (var loop in _loops) sum = StatisticsSum.Add(sum, loop.Stats(ipv6).Tcp.Snapshot());
        return sum;
    }

    /// <inheritdoc/>
    public IpOffloadStatisticsSnapshot QueryIpStatistics(bool ipv6)
    {
        if (_loops.Length == 1) return _engine.Stats(ipv6).Ip.Snapshot();
        IpOffloadStatisticsSnapshot sum = default;
        foreach (var loop in _loops) sum = StatisticsSum.Add(sum, loop.Stats(ipv6).Ip.Snapshot());
        return sum;
    }

    /// <inheritdoc/>
    public void ResetStatistics(bool ipv6)
    {
        foreach (var loop in _loops) loop.Stats(ipv6).Reset();
    }

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
        LoopOf(context).Enqueue(new TargetRequest(RequestKind.Disconnect, context, nbl, (int)flags));
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
        // Tree operations go to the coordinator (loop 0), I/O straight to the loop that owns the connection.
        LoopOf(context).Enqueue(new TargetRequest(kind, context, argument));
        return NdisStatus.Pending;
    }

    /// <summary>The loop that owns the object with <paramref name="context"/> (loop 0 for context 0 and tree operations).</summary>
    private TargetEngine LoopOf(ulong context) => _loops[_engine.LoopOfContext(context)];

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
    /// <param name="capabilities">New current capabilities, in force from the resume on (for the held initiates too),
    /// or null to keep them: a resume is the only way they change (spec §6.6). The hardware capabilities stay.
    /// Connections already offloaded keep running under the ones they were offloaded with.</param>
    /// <exception cref="ArgumentException">The capabilities are invalid (spec §6.9) or allow no connection.</exception>
    public void IndicateResume(TcpConnectionOffloadCapabilities? capabilities = null)
    {
        if (capabilities is not null)
        {
            var errors = new List<string>(capabilities.Validate());
            if (capabilities.TcpConnectionOffloadCapacity == 0) errors.Add("TcpConnectionOffloadCapacity must be at least 1.");
            if (errors.Count > 0) throw new ArgumentException("Invalid capabilities: " + string.Join(" ", errors), nameof(capabilities));
        }
        _engine.Enqueue(new TargetRequest(RequestKind.Resume, argument: capabilities));
    }

    /// <summary>Injects a hardware failure on a connection: Retrieve(HardwareFailure), Abort, terminate FAILURE (spec §6.6).</summary>
    public void InjectHardwareFailure(ulong context) => LoopOf(context).Enqueue(new TargetRequest(RequestKind.HardwareFailure, context));

    /// <summary>Asks the host to upload a connection with <paramref name="reason"/> (spec §6.3).</summary>
    public void RequestUpload(ulong context, TcpUploadReason reason = TcpUploadReason.UploadRequested)
        => LoopOf(context).Enqueue(new TargetRequest(RequestKind.RequestUpload, context, null, (int)reason));

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

    internal TargetEngine[] Loops => _loops;

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
        s_meter.CreateObservableGauge("offloademu.target.receive_buffer_bytes", () => weak.TryGetTarget(out var t) ? t.ReceiveBufferPool.OutstandingBytes : 0,
            "By", "Receive storage held by offloaded connections that buffer data now (taken from the pool, not given back)");
        s_meter.CreateObservableCounter("offloademu.target.frames_up", () => weak.TryGetTarget(out var t) ? t.FramesUp : 0,
            "{frame}", "Frames handed to the host on the non-offload path");
        if (_loops.Length > 1)
            s_meter.CreateObservableCounter("offloademu.target.handed_off_frames", () => weak.TryGetTarget(out var t) ? t.HandedOffFrames : 0,
                "{frame}", "Frames read on one link queue for a connection another engine loop owns, handed to that loop");
    }

    /// <summary>Stops the threads. The device stays open (its owner closes it).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop = true;
        _engine.Barrier.Cancel();
        foreach (var runner in _runners) runner.Stop();
        foreach (var runner in _runners) runner.Join();
    }
}
