using System.Collections.Concurrent;

namespace OffloadEmu.Chimney.Tests;

/// <summary>
/// The engine-thread host (<see cref="CompletionQueue.EngineThreadHost"/>: the control server's multiplexer takes small
/// I/O completions on the target's engine thread at the end of a round) and <see cref="CompletionQueue.RunOrSchedule"/>
/// (the control client's inline host callbacks): whatever runs where, items run one at a time in posting order.
/// </summary>
public sealed class CompletionQueueEngineTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Records (NBL id, thread) per send completion; takes on the engine thread what <see cref="Takes"/> says.</summary>
    private sealed class EngineHost : IOffloadHost, IEngineThreadHost
    {
        public readonly ConcurrentQueue<(ulong Id, int Thread)> Seen = new();
        public Func<NetBufferList, bool> Takes = _ => true;
        public ManualResetEventSlim? Gate;
        public int Running;
        public int Overlaps;

        public bool TakesIoCompletion(NetBufferList chain) => Takes(chain);
        public bool TakesIndication(ulong ndisOffloadHandle, int length) => length <= 100;

        public void TcpOffloadSendComplete(NetBufferList chain)
        {
            if (Interlocked.Increment(ref Running) != 1) Interlocked.Increment(ref Overlaps);
            if (chain.RequestId == 0) Gate?.Wait(Timeout);
            Seen.Enqueue((chain.RequestId, Environment.CurrentManagedThreadId));
            Interlocked.Decrement(ref Running);
        }

        public void InitiateOffloadComplete(OffloadBlock root) { }
        public void TerminateOffloadComplete(OffloadBlock root) { }
        public void UpdateOffloadComplete(OffloadBlock root) { }
        public void InvalidateOffloadComplete(OffloadBlock root) { }
        public void QueryOffloadStateComplete(OffloadBlock root) { }
        public void TcpOffloadReceiveComplete(NetBufferList chain) { }
        public void TcpOffloadDisconnectComplete(NetBufferList nbl) { }
        public void TcpOffloadForwardComplete(NetBufferList chain) { }

        public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
        {
            bytesConsumed = 0;
            return NdisStatus.OffloadDataNotAccepted;
        }

        public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info) => Seen.Enqueue((1000 + info, Environment.CurrentManagedThreadId));
        public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code) { }
        public void IndicateStatus(NdisStatus adapterStatus) { }
        public void ReceiveFrame(ReadOnlySpan<byte> frame) { }
    }

    private static NetBufferList Nbl(ulong id) => new(1, 1) { RequestId = id };

    private static bool WaitCount(EngineHost host, int n)
    {
        var end = DateTime.UtcNow + Timeout;
        while (host.Seen.Count < n && DateTime.UtcNow < end) Thread.Sleep(1);
        return host.Seen.Count >= n;
    }

    [Fact]
    public void Completions_posted_in_an_engine_round_run_on_the_engine_thread_at_its_end_in_order()
    {
        var host = new EngineHost();
        var queue = new CompletionQueue(ex => throw new InvalidOperationException("handler failed", ex)) { EngineThreadHost = host };
        int me = Environment.CurrentManagedThreadId;
        Assert.True(queue.BeginEngineRound());
        for (ulong i = 1; i <= 5; i++) queue.PostTcpOffloadSendComplete(host, Nbl(i));
        Assert.Empty(host.Seen); // held: no worker woken, nothing run inside the round
        queue.EndEngineRound();
        Assert.Equal([1UL, 2, 3, 4, 5], host.Seen.Select(s => s.Id));
        Assert.All(host.Seen, s => Assert.Equal(me, s.Thread));
        Assert.Equal(5, queue.RanOnEngineThread);
        Assert.Equal(0, queue.PendingCount);
        // Outside a round a post goes to the worker as before.
        queue.PostTcpOffloadSendComplete(host, Nbl(6));
        Assert.True(WaitCount(host, 6));
        Assert.Equal(5, queue.RanOnEngineThread);
    }

    [Fact]
    public void The_first_item_the_host_refuses_and_everything_after_it_go_to_the_worker_in_order()
    {
        var host = new EngineHost { Takes = c => c.RequestId != 3 };
        var queue = new CompletionQueue(ex => throw new InvalidOperationException("handler failed", ex)) { EngineThreadHost = host };
        int me = Environment.CurrentManagedThreadId;
        Assert.True(queue.BeginEngineRound());
        queue.PostTcpOffloadSendComplete(host, Nbl(1));
        queue.PostTcpOffloadSendComplete(host, Nbl(2));
        queue.PostTcpOffloadSendComplete(host, Nbl(3));     // refused: a busy socket, a large indication
        queue.PostTcpOffloadEvent(host, 7, TcpOffloadEventType.SendBacklogChange, 4); // never taken on the engine
        queue.PostTcpOffloadSendComplete(host, Nbl(5));     // would be taken, but comes after a refused one
        queue.EndEngineRound();
        Assert.True(WaitCount(host, 5));
        var seen = host.Seen.ToArray();
        Assert.Equal([1UL, 2, 3, 1004, 5], seen.Select(s => s.Id));
        Assert.Equal(me, seen[0].Thread);
        Assert.Equal(me, seen[1].Thread);
        Assert.All(seen[2..], s => Assert.NotEqual(me, s.Thread));
        Assert.Equal(2, queue.RanOnEngineThread);
        Assert.Equal(0, host.Overlaps);
    }

    [Fact]
    public void An_engine_round_that_finds_the_worker_busy_leaves_its_posts_to_the_worker_after_the_earlier_ones()
    {
        using var gate = new ManualResetEventSlim();
        var host = new EngineHost { Gate = gate };
        var queue = new CompletionQueue(ex => throw new InvalidOperationException("handler failed", ex)) { EngineThreadHost = host };
        int me = Environment.CurrentManagedThreadId;
        queue.PostTcpOffloadSendComplete(host, Nbl(0));   // the worker blocks in this one
        Thread.Sleep(50);
        Assert.True(queue.BeginEngineRound());
        queue.PostTcpOffloadSendComplete(host, Nbl(1));
        queue.PostTcpOffloadSendComplete(host, Nbl(2));
        queue.EndEngineRound();                             // holds nothing: the worker was running
        Assert.Equal(0, queue.RanOnEngineThread);
        gate.Set();
        Assert.True(WaitCount(host, 3));
        Assert.Equal([0UL, 1, 2], host.Seen.Select(s => s.Id));
        Assert.All(host.Seen, s => Assert.NotEqual(me, s.Thread));
        Assert.Equal(0, host.Overlaps);
    }

    [Fact]
    public void Without_an_engine_thread_host_or_an_error_callback_an_engine_round_holds_nothing()
    {
        var host = new EngineHost();
        Assert.False(new CompletionQueue(ex => { }).BeginEngineRound());
        Assert.False(new CompletionQueue { EngineThreadHost = host }.BeginEngineRound());
        Assert.False(CompletionQueue.CreateManual(ex => { }).BeginEngineRound());
    }

    [Fact]
    public void Small_indications_are_taken_on_the_engine_thread_and_large_ones_are_not()
    {
        var host = new EngineHost();
        var queue = new CompletionQueue(ex => throw new InvalidOperationException("handler failed", ex)) { EngineThreadHost = host };
        int me = Environment.CurrentManagedThreadId;
        var ran = new ConcurrentQueue<(int Length, int Thread)>();
        Action<object?> indicate = s => ran.Enqueue(((int)s!, Environment.CurrentManagedThreadId));
        Assert.True(queue.BeginEngineRound());
        queue.ScheduleIndication(indicate, 1, 0x10, 1);
        queue.ScheduleIndication(indicate, 100, 0x10, 100);
        queue.ScheduleIndication(indicate, 101, 0x10, 101);
        queue.EndEngineRound();
        var end = DateTime.UtcNow + Timeout;
        while (ran.Count < 3 && DateTime.UtcNow < end) Thread.Sleep(1);
        var seen = ran.ToArray();
        Assert.Equal([1, 100, 101], seen.Select(s => s.Length));
        Assert.Equal(me, seen[0].Thread);
        Assert.Equal(me, seen[1].Thread);
        Assert.NotEqual(me, seen[2].Thread);
    }

    [Fact]
    public void RunOrSchedule_runs_on_the_caller_when_idle_and_keeps_order_with_concurrent_posts()
    {
        var queue = new CompletionQueue(ex => throw new InvalidOperationException("handler failed", ex));
        int me = Environment.CurrentManagedThreadId;
        int ranOn = 0;
        queue.RunOrSchedule(_ => ranOn = Environment.CurrentManagedThreadId, null);
        Assert.Equal(me, ranOn);                   // idle: on the calling thread, before RunOrSchedule returns
        Assert.Equal(1, queue.RanByCaller);

        // Producers racing: one calls RunOrSchedule (like the control receive thread), three Schedule (like host threads
        // posting receives); each producer's items must come in its order, one at a time.
        const int producers = 4, perProducer = 5_000;
        var last = new int[producers];
        Array.Fill(last, -1);
        int violations = 0, total = 0, running = 0, overlaps = 0;
        using var done = new ManualResetEventSlim();
        var boxes = new object[producers * perProducer];
        for (int p = 0; p < producers; p++)
            for (int s = 0; s < perProducer; s++)
                boxes[p * perProducer + s] = (p, s);
        Action<object?> callback = state =>
        {
            if (Interlocked.Increment(ref running) != 1) Interlocked.Increment(ref overlaps);
            var (p, s) = ((int, int))state!;
            if (s != last[p] + 1) violations++;
            last[p] = s;
            if (++total == producers * perProducer) done.Set();
            Interlocked.Decrement(ref running);
        };
        Parallel.For(0, producers, p =>
        {
            for (int s = 0; s < perProducer; s++)
            {
                if (p == 0) queue.RunOrSchedule(callback, boxes[p * perProducer + s]);
                else queue.Schedule(callback, boxes[p * perProducer + s]);
            }
        });
        Assert.True(done.Wait(Timeout));
        Assert.Equal(0, violations);
        Assert.Equal(0, overlaps);
        // (How many ran on the RunOrSchedule producer depends on the pool: under load it may never find the queue idle.)
    }

    [Fact]
    public void RunOrSchedule_inside_a_deferral_scope_leaves_deferred_work_to_the_scope_end()
    {
        var queue = new CompletionQueue(ex => throw new InvalidOperationException("handler failed", ex));
        var order = new List<string>();
        Assert.True(CompletionQueue.BeginDeferral());
        queue.RunOrSchedule(_ =>
        {
            order.Add("item");
            Assert.True(CompletionQueue.DeferToDrainEnd(_ => order.Add("drain end"), null));
        }, null);
        order.Add("after item");
        CompletionQueue.EndDeferral();
        Assert.Equal(["item", "after item", "drain end"], order);
    }
}
