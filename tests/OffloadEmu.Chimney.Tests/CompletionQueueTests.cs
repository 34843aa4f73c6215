using System.Collections.Concurrent;
using OffloadEmu.Chimney.Tests.Fakes;

namespace OffloadEmu.Chimney.Tests;

public sealed class CompletionQueueTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public void Items_run_in_posting_order_one_at_a_time()
    {
        var queue = new CompletionQueue();
        const int n = 20_000;
        var seen = new int[n];
        int next = 0, running = 0, overlaps = 0;
        using var done = new ManualResetEventSlim();
        Action<object?> callback = state =>
        {
            if (Interlocked.Increment(ref running) != 1) Interlocked.Increment(ref overlaps);
            int i = next++;
            seen[i] = (int)state!;
            Interlocked.Decrement(ref running);
            if (i == n - 1) done.Set();
        };
        var boxed = new object[n];
        for (int i = 0; i < n; i++) boxed[i] = i;
        for (int i = 0; i < n; i++) queue.Schedule(callback, boxed[i]);
        Assert.True(done.Wait(Timeout));
        Assert.Equal(0, overlaps);
        for (int i = 0; i < n; i++) Assert.Equal(i, seen[i]);
    }

    [Fact]
    public void Order_is_kept_per_producer_with_concurrent_producers()
    {
        var queue = new CompletionQueue();
        const int producers = 4, perProducer = 5_000;
        var last = new int[producers];
        Array.Fill(last, -1);
        int violations = 0, total = 0;
        using var done = new ManualResetEventSlim();
        var states = new (int Producer, int Seq)[producers * perProducer];
        var boxes = new object[states.Length];
        for (int p = 0; p < producers; p++)
            for (int s = 0; s < perProducer; s++)
                boxes[p * perProducer + s] = (p, s);
        Action<object?> callback = state =>
        {
            var (p, s) = ((int, int))state!;
            if (s != last[p] + 1) violations++;
            last[p] = s;
            if (++total == producers * perProducer) done.Set();
        };
        Parallel.For(0, producers, p =>
        {
            for (int s = 0; s < perProducer; s++) queue.Schedule(callback, boxes[p * perProducer + s]);
        });
        Assert.True(done.Wait(Timeout));
        Assert.Equal(0, violations);
    }

    [Fact]
    public void Posting_never_runs_the_item_on_the_callers_stack()
    {
        var queue = new CompletionQueue();
        const int n = 1_000;
        int inlineRuns = 0, runs = 0;
        using var done = new ManualResetEventSlim();
        var inPost = new ThreadLocal<bool>();
        Action<object?> callback = _ =>
        {
            // Flag set by this thread around its own post: true here would mean the post ran us inline.
            if (inPost.Value) Interlocked.Increment(ref inlineRuns);
            if (Interlocked.Increment(ref runs) == n) done.Set();
        };
        for (int i = 0; i < n; i++)
        {
            inPost.Value = true;
            queue.Schedule(callback, null);
            inPost.Value = false;
        }
        Assert.True(done.Wait(Timeout));
        Assert.Equal(0, inlineRuns);
    }

    [Fact]
    public void Host_completions_reach_the_host_handler_off_the_callers_thread()
    {
        var queue = new CompletionQueue();
        var host = new RecordingHost();
        var root = new OffloadBlock(OffloadBlockType.TcpOffloadState);
        var nbl = new NetBufferList();
        
        queue.PostInitiateOffloadComplete(host, root);
        queue.PostTcpOffloadSendComplete(host, nbl);
        queue.PostTcpOffloadReceiveComplete(host, nbl);
        queue.PostTcpOffloadDisconnectComplete(host, nbl);
        queue.PostTcpOffloadForwardComplete(host, nbl);
        queue.PostTcpOffloadEvent(host, 7, TcpOffloadEventType.Retrieve, (uint)TcpUploadReason.UploadRequested);
        queue.PostNeighborOffloadEvent(host, root, NeighborEventCode.Query);
        queue.PostIndicateStatus(host, NdisStatus.UploadAll);
        queue.PostTerminateOffloadComplete(host, root);
        queue.PostUpdateOffloadComplete(host, root);
        queue.PostInvalidateOffloadComplete(host, root);
        queue.PostQueryOffloadStateComplete(host, root);
        Assert.True(host.WaitForCalls(12, Timeout));
        Assert.Equal(
            ["InitiateComplete", "SendComplete", "ReceiveComplete", "DisconnectComplete", "ForwardComplete", "TcpEvent",
             "NeighborEvent", "Status", "TerminateComplete", "UpdateComplete", "InvalidateComplete", "QueryComplete"],
            host.Calls.Select(c => c.Name).ToArray());
        Assert.All(host.Calls.Where(c => c.Root is not null), c => Assert.Same(root, c.Root));
        Assert.All(host.Calls.Where(c => c.Nbl is not null), c => Assert.Same(nbl, c.Nbl));
        var ev = host.Calls.Single(c => c.Name == "TcpEvent");
        Assert.Equal((7UL, TcpOffloadEventType.Retrieve, (uint)TcpUploadReason.UploadRequested), (ev.Handle, ev.EventType, ev.Info));
        Assert.Equal(NdisStatus.UploadAll, host.Calls.Single(c => c.Name == "Status").Status);
        Assert.Equal(NeighborEventCode.Query, host.Calls.Single(c => c.Name == "NeighborEvent").NeighborCode);
    }

    [Fact]
    public void A_throwing_handler_is_reported_and_the_queue_goes_on()
    {
        var errors = new ConcurrentQueue<Exception>();
        var queue = new CompletionQueue(errors.Enqueue);
        using var done = new ManualResetEventSlim();
        queue.Schedule(_ => throw new InvalidOperationException("boom"), null);
        queue.Schedule(_ => done.Set(), null);
        Assert.True(done.Wait(Timeout));
        Assert.Single(errors);
        Assert.Equal("boom", errors.Single().Message);
    }

    [Fact]
    public void Ring_grows_past_its_initial_capacity_without_losing_order()
    {
        var queue = new CompletionQueue(initialCapacity: 1);
        using var gate = new ManualResetEventSlim();
        using var done = new ManualResetEventSlim();
        var order = new List<int>();
        queue.Schedule(_ => gate.Wait(), null); // holds the worker so the backlog builds up and wraps the ring
        for (int i = 0; i < 100; i++)
        {
            int k = i;
            queue.Schedule(_ => { order.Add(k); if (k == 99) done.Set(); }, null);
        }
        Assert.True(queue.PendingCount >= 99);
        gate.Set();
        Assert.True(done.Wait(Timeout));
        Assert.Equal(Enumerable.Range(0, 100), order);
    }

    [Fact]
    public void Posting_and_draining_allocate_nothing_after_warm_up()
    {
        var queue = new CompletionQueue();
        const int n = 2_000;
        var threadIds = new int[n];
        var allocated = new long[n];
        int index = 0;
        using var gate = new ManualResetEventSlim();
        using var done = new ManualResetEventSlim();
        Action<object?> hold = static g => ((ManualResetEventSlim)g!).Wait();
        Action<object?> record = _ =>
        {
            int i = index++;
            threadIds[i] = Environment.CurrentManagedThreadId;
            allocated[i] = GC.GetAllocatedBytesForCurrentThread();
            if (i == n - 1) ((ManualResetEventSlim)done).Set();
        };
        void Round(bool measure)
        {
            index = 0;
            gate.Reset();
            done.Reset();
            // The first item holds the worker, so the measured posts below never queue a worker themselves.
            queue.Schedule(hold, gate);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < n; i++) queue.Schedule(record, null);
            long posting = GC.GetAllocatedBytesForCurrentThread() - before;
            gate.Set();
            Assert.True(done.Wait(Timeout));
            if (!measure) return;
            Assert.Equal(0, posting);
            // Between two consecutive items on the same worker thread only the drain loop ran: it must not allocate.
            long draining = 0;
            for (int i = 1; i < n; i++)
                if (threadIds[i] == threadIds[i - 1]) draining += allocated[i] - allocated[i - 1];
            Assert.Equal(0, draining);
        }
        for (int w = 0; w < 5; w++) Round(measure: false);
        Round(measure: true);
    }
    [Fact]
    public async Task Work_deferred_by_an_item_runs_once_after_it_and_before_the_next()
    {
        var queue = new CompletionQueue();
        var log = new ConcurrentQueue<string>();
        using var done = new ManualResetEventSlim();
        Action<object?> deferred = state => log.Enqueue("deferred " + state);
        bool outside = CompletionQueue.DeferToItemEnd(deferred, "outside");
        queue.Schedule(_ =>
        {
            log.Enqueue("first: " + CompletionQueue.DeferToItemEnd(deferred, "a"));
            CompletionQueue.DeferToItemEnd(deferred, "a");   // the same callback and state again: still once
            CompletionQueue.DeferToItemEnd(deferred, "b");
            log.Enqueue("first ends");
        }, null);
        queue.Schedule(_ => log.Enqueue("second"), null);
        queue.Schedule(_ => done.Set(), null);
        Assert.True(done.Wait(Timeout));
        Assert.False(outside);
        Assert.Equal(["first: True", "first ends", "deferred a", "deferred b", "second"], log.ToArray());
        // After the item, the worker thread is no longer inside one: nothing is deferred from the thread pool work that
        // follows on it.
        var after = new TaskCompletionSource<bool>();
        ThreadPool.UnsafeQueueUserWorkItem(_ => after.SetResult(CompletionQueue.DeferToItemEnd(deferred, "late")), null);
        Assert.False(await after.Task.WaitAsync(Timeout));
    }

    [Fact]
    public void Work_deferred_to_the_drain_end_runs_once_after_every_queued_item_and_a_scope_defers_to_its_end()
    {
        var queue = new CompletionQueue();
        var log = new ConcurrentQueue<string>();
        using var gate = new ManualResetEventSlim();
        Action<object?> flush = state => log.Enqueue("flush " + state);
        Assert.False(CompletionQueue.DeferToDrainEnd(flush, "outside"));
        // The first item holds the worker until the other two are queued: one drain runs all three.
        queue.Schedule(_ =>
        {
            gate.Wait(Timeout);
            log.Enqueue("first: " + CompletionQueue.DeferToDrainEnd(flush, "x"));
        }, null);
        queue.Schedule(_ =>
        {
            CompletionQueue.DeferToDrainEnd(flush, "x");   // the same callback and state again: still once
            log.Enqueue("second");
        }, null);
        queue.Schedule(_ => log.Enqueue("third"), null);
        gate.Set();
        for (int i = 0; i < 500 && !log.Contains("flush x"); i++) Thread.Sleep(10);
        Assert.Equal(["first: True", "second", "third", "flush x"], log.ToArray());

        // A scope on a thread outside any item: item-end and drain-end work wait for its end; nested scopes do not open.
        log.Clear();
        Assert.True(CompletionQueue.BeginDeferral());
        Assert.False(CompletionQueue.BeginDeferral());
        Assert.True(CompletionQueue.DeferToItemEnd(s => log.Enqueue("item " + s), "y"));
        Assert.True(CompletionQueue.DeferToDrainEnd(flush, "y"));
        log.Enqueue("in scope");
        CompletionQueue.EndDeferral();
        Assert.Equal(["in scope", "item y", "flush y"], log.ToArray());
        Assert.False(CompletionQueue.DeferToDrainEnd(flush, "after"));
    }
}

/// <summary><see cref="CompletionQueue.AttachEngineThread"/> / <see cref="CompletionQueue.TryDrainOnEngine"/>: the
/// inline-completions mode, where the engine thread runs what it posts.</summary>
public sealed class CompletionQueueEngineDrainTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Runs <paramref name="body"/> on a thread of its own (the "engine"), so the test thread's statics stay clean.</summary>
    private static void OnEngine(Action body)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { body(); }
            catch (Exception ex) { failure = ex; }
        });
        thread.Start();
        Assert.True(thread.Join(Timeout), "the engine thread hung");
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    [Fact]
    public void Posts_of_the_engine_thread_wait_for_its_drain_and_run_there_in_order()
    {
        var queue = new CompletionQueue();
        var ran = new List<(int Item, int Thread)>();
        OnEngine(() =>
        {
            queue.AttachEngineThread();
            int engine = Environment.CurrentManagedThreadId;
            for (int i = 0; i < 100; i++) queue.Schedule(s => ran.Add(((int)s!, Environment.CurrentManagedThreadId)), i);
            Thread.Sleep(200);   // no worker was scheduled: nothing may have run
            Assert.Empty(ran);
            Assert.Equal(100, queue.PendingCount);
            Assert.True(queue.TryDrainOnEngine());
            Assert.Equal(Enumerable.Range(0, 100), ran.Select(r => r.Item));
            Assert.All(ran, r => Assert.Equal(engine, r.Thread));
            Assert.False(queue.TryDrainOnEngine());   // empty
            queue.DetachEngineThread();
        });
        Assert.Equal(1, queue.EngineDrains);
    }

    [Fact]
    public void Requests_a_handler_defers_run_at_its_end_on_the_engine_and_items_it_posts_run_in_the_same_drain()
    {
        var queue = new CompletionQueue();
        var log = new List<string>();
        OnEngine(() =>
        {
            queue.AttachEngineThread();
            queue.Schedule(_ =>
            {
                Assert.True(CompletionQueue.DeferToItemEnd(_ => log.Add("wake"), null));
                queue.Schedule(_ => log.Add("second"), null);
                log.Add("first");
            }, null);
            Assert.True(queue.TryDrainOnEngine());
            // Outside a drain the engine thread is not inside an item: nothing defers.
            Assert.False(CompletionQueue.DeferToItemEnd(_ => log.Add("late"), null));
        });
        Assert.Equal(["first", "wake", "second"], log);
    }

    [Fact]
    public void Other_threads_posts_go_to_a_worker_and_the_engine_never_drains_beside_it()
    {
        var queue = new CompletionQueue();
        using var release = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();
        int running = 0, overlaps = 0;
        var order = new ConcurrentQueue<int>();
        // A worker item from this (non-engine) thread that holds the queue while the engine posts and tries to drain.
        queue.Schedule(_ =>
        {
            if (Interlocked.Increment(ref running) != 1) Interlocked.Increment(ref overlaps);
            started.Set();
            release.Wait(Timeout);
            order.Enqueue(0);
            Interlocked.Decrement(ref running);
        }, null);
        Assert.True(started.Wait(Timeout));
        OnEngine(() =>
        {
            queue.AttachEngineThread();
            for (int i = 1; i <= 3; i++)
                queue.Schedule(s =>
                {
                    if (Interlocked.Increment(ref running) != 1) Interlocked.Increment(ref overlaps);
                    order.Enqueue((int)s!);
                    Interlocked.Decrement(ref running);
                }, i);
            Assert.False(queue.TryDrainOnEngine());   // the worker drains: one drainer at a time
        });
        release.Set();
        var deadline = DateTime.UtcNow + Timeout;
        while (order.Count < 4 && DateTime.UtcNow < deadline) Thread.Sleep(5);
        Assert.Equal([0, 1, 2, 3], order.ToArray());
        Assert.Equal(0, overlaps);
        Assert.Equal(0, queue.EngineDrains);
    }

    [Fact]
    public void A_manual_queue_cannot_be_attached()
    {
        var queue = CompletionQueue.CreateManual();
        Assert.Throws<InvalidOperationException>(queue.AttachEngineThread);
    }
}
