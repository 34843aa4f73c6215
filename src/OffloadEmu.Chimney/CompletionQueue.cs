namespace OffloadEmu.Chimney;

/// <summary>
/// The scheduler a target hands its completions and indications to: a FIFO of small work items drained on the thread
/// pool by one worker at a time, so host code never runs on the caller's (engine) thread and items run in the order
/// they were posted.
/// </summary>
/// <remarks>
/// <para>
/// Architecture §3 (Kestrel's IOQueue shape) and chimney spec §0: every request completes asynchronously; a target
/// posts its <c>*Complete</c> calls here instead of calling the host. One queue delivers in posting order, so a target
/// that posts all completions of a connection to one queue keeps their order (spec §3, §5 FIFO completion), and
/// receive completions and indications posted to one queue are serialized per connection (spec §3).
/// </para>
/// <para>
/// Allocation: the items are structs in a ring that grows to the largest backlog seen and is then reused; the queue
/// schedules one reusable <see cref="IThreadPoolWorkItem"/>, so scheduling the worker allocates nothing. After warm-up, posting
/// and draining allocate nothing per item.
/// </para>
/// <para>
/// A post never runs the item inline: it only enqueues and, if no worker is running, queues the worker. A handler
/// that throws is reported to the error callback given to the constructor and the worker moves on; with no callback
/// the exception escapes to the thread pool (the process fails loudly) after the rest of the queue has been handed to
/// a new worker.
/// </para>
/// </remarks>
public sealed class CompletionQueue
{
    private readonly Lock _lock = new();
    private readonly Action<Exception>? _onError;
    private readonly CompletionQueueWorker _worker;
    private CompletionWork[] _ring;
    private int _head;
    private int _count;
    private bool _workerScheduled;
    private bool _manual;
    private int _engineHolder;         // managed thread id of the engine thread holding the queue until its round ends (0: none)
    private long _ranByEngine;
    private long _engineHandOffs;
    private long _ranByCaller;
    private IEngineThreadHost? _engineThreadHost;

    // The queue whose posts this thread (an engine loop inside a round) holds until the round ends; null elsewhere.
    [ThreadStatic]
    private static CompletionQueue? t_engineRound;

    /// <summary>Creates an empty queue.</summary>
    /// <param name="onError">Receives exceptions thrown by host handlers or callbacks; null lets them escape.</param>
    /// <param name="initialCapacity">Initial ring size; the ring doubles when a backlog outgrows it.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="initialCapacity"/> is less than 1.</exception>
    public CompletionQueue(Action<Exception>? onError = null, int initialCapacity = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(initialCapacity, 1);
        _onError = onError;
        _ring = new CompletionWork[initialCapacity];
        _worker = new CompletionQueueWorker(this);
    }

    /// <summary>Items posted and not yet started.</summary>
    public int PendingCount
    {
        get
        {
            lock (_lock) return _count;
        }
    }

    /// <summary>Runs <paramref name="callback"/>(<paramref name="state"/>) on the worker (Kestrel's <c>Schedule</c>). Pass a cached or static delegate so nothing is allocated per call.</summary>
    public void Schedule(Action<object?> callback, object? state)
    {
        ArgumentNullException.ThrowIfNull(callback);
        Enqueue(new CompletionWork(CompletionKind.Callback, null, state, callback));
    }

    /// <summary>As <see cref="Schedule"/>, for a callback that delivers a receive indication of <paramref name="length"/>
    /// bytes for the connection with host handle <paramref name="ndisOffloadHandle"/> (its <see cref="EngineThreadHost"/>
    /// may take it on the engine thread).</summary>
    public void ScheduleIndication(Action<object?> callback, object? state, ulong ndisOffloadHandle, int length)
    {
        ArgumentNullException.ThrowIfNull(callback);
        Enqueue(new CompletionWork(CompletionKind.IndicationCallback, null, state, callback, handle: ndisOffloadHandle, code: (uint)Math.Max(0, length)));
    }

    /// <summary>
    /// The emulator's own host-side component (the control server's multiplexer) that takes some I/O completions and
    /// indications on the target's engine thread at the end of its round (<see cref="IEngineThreadHost"/>); null (the
    /// default): every item runs on the worker. Only a queue with an error callback runs items on the engine thread.
    /// </summary>
    public IEngineThreadHost? EngineThreadHost
    {
        get => Volatile.Read(ref _engineThreadHost);
        set => Volatile.Write(ref _engineThreadHost, value);
    }

    /// <summary>Items the engine thread ran itself at the end of a round (<see cref="EngineThreadHost"/>).</summary>
    public long RanOnEngineThread => Interlocked.Read(ref _ranByEngine);

    /// <summary>Times an engine round ended by handing the queue to the worker (an item its engine-thread host refused).</summary>
    public long EngineHandOffs => Interlocked.Read(ref _engineHandOffs);

    /// <summary>Items run by the thread that posted them (<see cref="RunOrSchedule"/>) or by the items it ran.</summary>
    public long RanByCaller => Interlocked.Read(ref _ranByCaller);

    /// <summary>
    /// The engine thread, at the start of a round: until <see cref="EndEngineRound"/> a post from this thread that finds
    /// the queue idle does not wake a worker; the thread holds the queue and runs its items at the round's end. Returns
    /// false (and holds nothing) when the queue has no <see cref="EngineThreadHost"/>, no error callback, or is manual.
    /// </summary>
    public bool BeginEngineRound()
    {
        if (_manual || _onError is null || Volatile.Read(ref _engineThreadHost) is null) return false;
        t_engineRound = this;
        return true;
    }

    /// <summary>
    /// The engine thread, at the end of a round that <see cref="BeginEngineRound"/> began: if it holds the queue, runs
    /// the items, in order, while <see cref="EngineThreadHost"/> takes each (with the deferrals a worker has: what they
    /// defer to the drain's end runs after the last), and hands the first it refuses, with everything after it, to a
    /// worker. Posting order is kept: the thread holds the queue only when it found no worker running and nothing queued.
    /// </summary>
    public void EndEngineRound()
    {
        t_engineRound = null;
        int me = Environment.CurrentManagedThreadId;
        lock (_lock)
        {
            if (_engineHolder != me) return;
            _engineHolder = 0;
        }
        RunAsOwner(engine: true);
    }

    /// <summary>
    /// Runs <paramref name="callback"/>(<paramref name="state"/>) on the calling thread when the queue is idle (no worker
    /// running, nothing queued), then whatever the item and others posted meanwhile, in order, until the queue is empty;
    /// otherwise queues it as <see cref="Schedule"/> does. Either way items run one at a time in posting order. For a
    /// thread that may run host callbacks (the control client's receive thread with inline callbacks): a handler that
    /// blocks stalls that thread. Queues without an error callback and manual queues always queue.
    /// </summary>
    public void RunOrSchedule(Action<object?> callback, object? state)
    {
        ArgumentNullException.ThrowIfNull(callback);
        if (Enqueue(new CompletionWork(CompletionKind.Callback, null, state, callback), runHere: true)) RunAsOwner(engine: false);
    }

    /// <summary>Posts <see cref="IOffloadHost.InitiateOffloadComplete"/>.</summary>
    public void PostInitiateOffloadComplete(IOffloadHost host, OffloadBlock root) => Post(CompletionKind.InitiateOffloadComplete, host, root);

    /// <summary>Posts <see cref="IOffloadHost.TerminateOffloadComplete"/>.</summary>
    public void PostTerminateOffloadComplete(IOffloadHost host, OffloadBlock root) => Post(CompletionKind.TerminateOffloadComplete, host, root);

    /// <summary>Posts <see cref="IOffloadHost.UpdateOffloadComplete"/>.</summary>
    public void PostUpdateOffloadComplete(IOffloadHost host, OffloadBlock root) => Post(CompletionKind.UpdateOffloadComplete, host, root);

    /// <summary>Posts <see cref="IOffloadHost.InvalidateOffloadComplete"/>.</summary>
    public void PostInvalidateOffloadComplete(IOffloadHost host, OffloadBlock root) => Post(CompletionKind.InvalidateOffloadComplete, host, root);

    /// <summary>Posts <see cref="IOffloadHost.QueryOffloadStateComplete"/>.</summary>
    public void PostQueryOffloadStateComplete(IOffloadHost host, OffloadBlock root) => Post(CompletionKind.QueryOffloadStateComplete, host, root);

    /// <summary>Posts <see cref="IOffloadHost.TcpOffloadSendComplete"/>.</summary>
    public void PostTcpOffloadSendComplete(IOffloadHost host, NetBufferList chain) => Post(CompletionKind.TcpOffloadSendComplete, host, chain);

    /// <summary>Posts <see cref="IOffloadHost.TcpOffloadReceiveComplete"/>.</summary>
    public void PostTcpOffloadReceiveComplete(IOffloadHost host, NetBufferList chain) => Post(CompletionKind.TcpOffloadReceiveComplete, host, chain);

    /// <summary>Posts <see cref="IOffloadHost.TcpOffloadDisconnectComplete"/>.</summary>
    public void PostTcpOffloadDisconnectComplete(IOffloadHost host, NetBufferList nbl) => Post(CompletionKind.TcpOffloadDisconnectComplete, host, nbl);

    /// <summary>Posts <see cref="IOffloadHost.TcpOffloadForwardComplete"/>.</summary>
    public void PostTcpOffloadForwardComplete(IOffloadHost host, NetBufferList chain) => Post(CompletionKind.TcpOffloadForwardComplete, host, chain);

    /// <summary>Posts <see cref="IOffloadHost.TcpOffloadEvent"/>.</summary>
    public void PostTcpOffloadEvent(IOffloadHost host, ulong ndisOffloadHandle, TcpOffloadEventType type, uint info)
    {
        ArgumentNullException.ThrowIfNull(host);
        Enqueue(new CompletionWork(CompletionKind.TcpOffloadEvent, host, null, handle: ndisOffloadHandle, code: (uint)type, info: info));
    }

    /// <summary>
    /// Posts <see cref="IOffloadHost.NeighborOffloadEvent"/>. The host's reachability answer is in the block once the
    /// item has run; a target that needs it schedules a <see cref="Schedule">callback</see> instead (spec §6.4).
    /// </summary>
    public void PostNeighborOffloadEvent(IOffloadHost host, OffloadBlock neighborBlock, NeighborEventCode code)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(neighborBlock);
        Enqueue(new CompletionWork(CompletionKind.NeighborOffloadEvent, host, neighborBlock, code: (uint)code));
    }

    /// <summary>Posts <see cref="IOffloadHost.IndicateStatus"/>.</summary>
    public void PostIndicateStatus(IOffloadHost host, NdisStatus adapterStatus)
    {
        ArgumentNullException.ThrowIfNull(host);
        Enqueue(new CompletionWork(CompletionKind.IndicateStatus, host, null, code: (uint)adapterStatus));
    }

    /// <summary>Drains the queue on a thread-pool thread; only <see cref="CompletionQueueWorker"/> calls it, one at a time.</summary>
    /// <summary>
    /// Creates a queue that never schedules a worker: items wait until <see cref="RunPending"/> runs them on the calling
    /// thread. For deterministic simulation, where a test drives the target, the host and the wire from one thread.
    /// </summary>
    public static CompletionQueue CreateManual(Action<Exception>? onError = null)
    {
        var queue = new CompletionQueue(onError);
        queue._manual = true;
        queue._workerScheduled = true; // never cleared: Enqueue never schedules
        return queue;
    }

    /// <summary>True for a queue made by <see cref="CreateManual"/>.</summary>
    public bool IsManual => _manual;

    /// <summary>
    /// Manual queues: runs the queued items on the calling thread, in order, including items they post, until the
    /// queue is empty; returns how many ran.
    /// </summary>
    /// <exception cref="InvalidOperationException">The queue is not manual.</exception>
    public int RunPending()
    {
        if (!_manual) throw new InvalidOperationException("Only a manual completion queue is drained by its caller.");
        int ran = 0;
        while (true)
        {
            CompletionWork work;
            lock (_lock)
            {
                if (_count == 0) return ran;
                work = _ring[_head];
                _ring[_head] = default;
                _head = (_head + 1) % _ring.Length;
                _count--;
            }
            ran++;
            try
            {
                work.Invoke();
            }
            catch (Exception ex) when (_onError is not null)
            {
                _onError(ex);
            }
        }
    }

    // The queue the current thread drains itself as an engine thread (AttachEngineThread); null elsewhere.
    [ThreadStatic]
    private static CompletionQueue? t_engineQueue;

    /// <summary>
    /// Makes the calling thread (a target's engine loop) a drainer of this queue: what it posts is not handed to a
    /// worker; it runs when the thread calls <see cref="TryDrainOnEngine"/>, which it must do before it sleeps. Items
    /// posted by other threads still go to a worker. One drainer runs at a time, so items still run one at a time in
    /// posting order. For a target whose host handlers never block (OffloadTargetOptions.InlineCompletions): host code
    /// then runs on the engine thread, as a miniport's DPC calls NDIS's completion handlers.
    /// </summary>
    /// <exception cref="InvalidOperationException">The queue is manual.</exception>
    public void AttachEngineThread()
    {
        if (_manual) throw new InvalidOperationException("A manual completion queue is drained by its caller, not by an engine thread.");
        t_engineQueue = this;
    }

    /// <summary>Undoes <see cref="AttachEngineThread"/> for the calling thread.</summary>
    public void DetachEngineThread()
    {
        if (ReferenceEquals(t_engineQueue, this)) t_engineQueue = null;
    }

    /// <summary>
    /// On a thread that called <see cref="AttachEngineThread"/>: runs the queued items here, in order (with the deferrals
    /// of a worker: <see cref="DeferToItemEnd"/>, <see cref="DeferToDrainEnd"/>), until the queue is empty; returns true
    /// when it ran any. Returns false at once when the queue is empty or a worker is draining it (that worker runs them).
    /// </summary>
    public bool TryDrainOnEngine()
    {
        // Called after every engine round: no lock when nothing is queued. Safe without it: this thread's own posts are
        // visible to it, and another thread's post that this read misses schedules a worker for itself.
        if (Volatile.Read(ref _count) == 0) return false;
        lock (_lock)
        {
            if (_count == 0 || _workerScheduled) return false;
            _workerScheduled = true;   // this thread is the drainer now; Drain clears it when it finds the queue empty
        }
        Interlocked.Increment(ref _engineDrains);
        Drain();
        return true;
    }

    private long _engineDrains;

    /// <summary>Drains run by engine threads (<see cref="TryDrainOnEngine"/> calls that ran items).</summary>
    public long EngineDrains => Interlocked.Read(ref _engineDrains);

    // Work deferred to the end of the item the current worker thread runs (DeferToItemEnd); null on other threads.
    [ThreadStatic]
    private static DeferredWork? t_deferred;

    /// <summary>
    /// On a worker thread running an item: runs <paramref name="callback"/>(<paramref name="state"/>) once the item's
    /// handler returns (before the next item), and returns true; elsewhere returns false and does nothing. A target uses
    /// it to wake its engine once for every request a host handler made (a completion handler that sends and posts a
    /// receive), not once per request: on a small machine each wake-up can preempt the handler.
    /// </summary>
    public static bool DeferToItemEnd(Action<object?> callback, object? state)
    {
        var deferred = t_deferred;
        if (deferred is null || !deferred.Active) return false;
        deferred.Add(callback, state);
        return true;
    }

    /// <summary>
    /// On a worker thread running an item (or inside <see cref="BeginDeferral"/>): runs <paramref name="callback"/>(<paramref
    /// name="state"/>) once the worker has found the queue empty (or at <see cref="EndDeferral"/>), once however often it
    /// is asked for, and returns true; elsewhere returns false and does nothing. The control connection uses it to write
    /// every message the completions of one drain queued with one system call (a receive completion and the send
    /// completion of the same frame), not one per item.
    /// </summary>
    public static bool DeferToDrainEnd(Action<object?> callback, object? state)
    {
        var deferred = t_deferred;
        if (deferred is null || !deferred.Active) return false;
        deferred.AddDrainEnd(callback, state);
        return true;
    }

    /// <summary>
    /// Opens a deferral scope on the current thread, which is not running a queue item: until <see cref="EndDeferral"/>,
    /// <see cref="DeferToItemEnd"/> and <see cref="DeferToDrainEnd"/> defer to its end. The control server's receive loop
    /// opens one per batch of messages read, so the requests of one batch (a send and a consumed-bytes report) wake the
    /// target's engine once. Returns false (and opens nothing) when the thread is already inside an item or a scope.
    /// </summary>
    public static bool BeginDeferral()
    {
        var deferred = t_deferred ??= new DeferredWork();
        if (deferred.Active) return false;
        deferred.Active = true;
        deferred.Scope = true;
        return true;
    }

    /// <summary>Ends the scope <see cref="BeginDeferral"/> opened (when it returned true): runs what was deferred.</summary>
    public static void EndDeferral()
    {
        var deferred = t_deferred;
        if (deferred is null || !deferred.Scope) return;
        deferred.Scope = false;
        try
        {
            deferred.RunAll();
        }
        finally
        {
            deferred.RunDrainEnd();
        }
    }

    internal void Drain()
    {
        var deferred = t_deferred ??= new DeferredWork();
        while (true)
        {
            CompletionWork work;
            bool drainEnd = false;
            lock (_lock)
            {
                if (_count == 0)
                {
                    if (deferred.HasDrainEnd)
                    {
                        drainEnd = true;   // run outside the lock, then look again (they may have queued more)
                        work = default;
                    }
                    else
                    {
                        // Cleared under the lock so a concurrent post either sees the worker running or schedules a new one.
                        _workerScheduled = false;
                        return;
                    }
                }
                else
                {
                    work = _ring[_head];
                    _ring[_head] = default; // drop references so completed NBLs and trees are not kept alive by the ring
                    _head = (_head + 1) % _ring.Length;
                    _count--;
                }
            }
            if (drainEnd)
            {
                try
                {
                    deferred.RunDrainEnd();
                }
                catch (Exception ex) when (_onError is not null)
                {
                    _onError(ex);
                }
                continue;
            }
            try
            {
                deferred.Active = true;
                work.Invoke();
            }
            catch (Exception ex) when (_onError is not null)
            {
                _onError(ex);
            }
            catch
            {
                deferred.RunAll();
                deferred.RunDrainEnd();
                // No error callback: hand the remaining items to a fresh worker so they still run, then fail loudly.
                bool reschedule;
                lock (_lock)
                {
                    reschedule = _count != 0;
                    if (!reschedule) _workerScheduled = false;
                }
                if (reschedule) ThreadPool.UnsafeQueueUserWorkItem(_worker, preferLocal: false);
                throw;
            }
            deferred.RunAll();
        }
    }

    /// <summary>A worker thread's callbacks deferred to the end of its current item (reused: allocates only to grow).</summary>
    private sealed class DeferredWork
    {
        private (Action<object?> Callback, object? State)[] _items = new (Action<object?>, object?)[4];
        private int _count;
        private (Action<object?> Callback, object? State)[] _drainEnd = new (Action<object?>, object?)[4];
        private int _drainEndCount;

        public bool Active;

        /// <summary>Active because of <see cref="BeginDeferral"/>, not an item.</summary>
        public bool Scope;

        public bool HasDrainEnd => _drainEndCount > 0;

        public void AddDrainEnd(Action<object?> callback, object? state)
        {
            for (int i = 0; i < _drainEndCount; i++)
                if (ReferenceEquals(_drainEnd[i].Callback, callback) && ReferenceEquals(_drainEnd[i].State, state)) return;
            if (_drainEndCount == _drainEnd.Length) Array.Resize(ref _drainEnd, _drainEndCount * 2);
            _drainEnd[_drainEndCount++] = (callback, state);
        }

        /// <summary>Runs and clears the callbacks deferred to the drain's end (the thread is outside any item). Every one
        /// runs even when one throws (the first exception is rethrown after).</summary>
        public void RunDrainEnd()
        {
            Active = false;
            Exception? first = null;
            for (int i = 0; i < _drainEndCount; i++)
            {
                var (callback, state) = _drainEnd[i];
                _drainEnd[i] = default;
                try
                {
                    callback(state);
                }
                catch (Exception ex)
                {
                    first ??= ex;
                }
            }
            _drainEndCount = 0;
            if (first is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        }

        public void Add(Action<object?> callback, object? state)
        {
            for (int i = 0; i < _count; i++)
                if (ReferenceEquals(_items[i].Callback, callback) && ReferenceEquals(_items[i].State, state)) return;
            if (_count == _items.Length) Array.Resize(ref _items, _count * 2);
            _items[_count++] = (callback, state);
        }

        /// <summary>Runs and clears the deferred callbacks; the thread is no longer inside an item afterwards.</summary>
        public void RunAll()
        {
            Active = false;
            for (int i = 0; i < _count; i++)
            {
                var (callback, state) = _items[i];
                _items[i] = default;
                callback(state);
            }
            _count = 0;
        }
    }

    private void Post(CompletionKind kind, IOffloadHost host, object argument)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(argument);
        Enqueue(new CompletionWork(kind, host, argument));
    }

    // Returns true when the caller (runHere) became the queue's worker and must run it (RunAsOwner).
    private bool Enqueue(in CompletionWork work, bool runHere = false)
    {
        bool schedule = false;
        bool own = false;
        lock (_lock)
        {
            if (_count == _ring.Length) Grow();
            _ring[(_head + _count) % _ring.Length] = work;
            _count++;
            // An engine thread that drains this queue itself (AttachEngineThread) runs what it posts before it sleeps: no
            // worker is scheduled for it. Any other thread schedules one as usual (one drainer at a time either way).
            if (!_workerScheduled && !ReferenceEquals(t_engineQueue, this))
            {
                _workerScheduled = true;
                if (runHere && _onError is not null && _count == 1) own = true;
                else if (t_engineRound == this) _engineHolder = Environment.CurrentManagedThreadId; // runs them at the round's end
                else schedule = true;
            }
        }
        // Outside the lock: the worker may start at once and would contend for it.
        if (schedule) ThreadPool.UnsafeQueueUserWorkItem(_worker, preferLocal: false);
        return own;
    }

    // The engine thread may run the item at the head only when the engine-thread host takes it.
    private bool TakenOnEngine(in CompletionWork work)
    {
        var host = Volatile.Read(ref _engineThreadHost);
        if (host is null) return false;
        return work.Kind switch
        {
            CompletionKind.TcpOffloadSendComplete or CompletionKind.TcpOffloadReceiveComplete or CompletionKind.TcpOffloadForwardComplete
                or CompletionKind.TcpOffloadDisconnectComplete => host.TakesIoCompletion((NetBufferList)work.Argument!),
            CompletionKind.IndicationCallback => host.TakesIndication(work.Handle, (int)work.Code),
            _ => false,
        };
    }

    /// <summary>
    /// The calling thread owns the queue as its worker (it set <see cref="_workerScheduled"/>): runs the items in order
    /// (the engine: while the engine-thread host takes the head) until the queue is empty, or hands the rest to a pool
    /// worker. Inside a <see cref="BeginDeferral"/> scope what the items defer runs at the scope's end; elsewhere as a
    /// worker runs it (item end, then drain end).
    /// </summary>
    private void RunAsOwner(bool engine)
    {
        var deferred = t_deferred ??= new DeferredWork();
        bool scope = deferred.Active;
        bool handOff = false;
        try
        {
            while (true)
            {
                CompletionWork work;
                lock (_lock)
                {
                    if (_count == 0)
                    {
                        _workerScheduled = false;
                        break;
                    }
                    work = _ring[_head]; // only the owner dequeues: the head stays this item until it does
                }
                if (engine && !TakenOnEngine(in work))
                {
                    handOff = true;   // _workerScheduled stays set: the pool worker takes over from this item
                    break;
                }
                lock (_lock)
                {
                    _ring[_head] = default;
                    _head = (_head + 1) % _ring.Length;
                    _count--;
                }
                if (engine) Interlocked.Increment(ref _ranByEngine);
                else Interlocked.Increment(ref _ranByCaller);
                try
                {
                    if (!scope) deferred.Active = true;
                    work.Invoke();
                }
                catch (Exception ex)
                {
                    _onError!(ex);   // an owner other than the pool worker exists only with an error callback
                }
                if (!scope) deferred.RunAll();
            }
        }
        finally
        {
            if (!scope && deferred.HasDrainEnd)
            {
                try
                {
                    deferred.RunDrainEnd();
                }
                catch (Exception ex)
                {
                    _onError!(ex);
                }
            }
            if (handOff)
            {
                Interlocked.Increment(ref _engineHandOffs);
                ThreadPool.UnsafeQueueUserWorkItem(_worker, preferLocal: false);
            }
        }
    }

    private void Grow()
    {
        var larger = new CompletionWork[_ring.Length * 2];
        for (int i = 0; i < _count; i++) larger[i] = _ring[(_head + i) % _ring.Length];
        _ring = larger;
        _head = 0;
    }
}
