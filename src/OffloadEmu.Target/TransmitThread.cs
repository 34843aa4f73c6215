using Microsoft.Extensions.Logging;
using OffloadEmu.Link;

namespace OffloadEmu.Target;

/// <summary>
/// A link queue's transmit thread (<see cref="OffloadTargetOptions.TransmitThread"/>): the engine loop hands finished
/// frames over through a <see cref="TransmitRing"/> and this thread makes the device's send calls, so the work a send
/// does inside the kernel (on a TAP the peer's whole TCP receive path runs in our write(2)) overlaps the loop's own TCP
/// work on another core. Frames leave in the order they were handed over; the loop takes the sent buffers back on its
/// own thread; nothing is allocated per frame.
/// </summary>
/// <remarks>One producer (the loop's thread) and this one consumer. When the ring is empty the thread spins briefly,
/// then sleeps on a semaphore the producer releases only when the thread announced it sleeps. On <see cref="Stop"/> the
/// thread passes every frame already handed over to the device, then ends.</remarks>
internal sealed class TransmitThread
{
    /// <summary>Frames passed to the device per call.</summary>
    private const int SendBatch = 32;

    /// <summary>Looks at the ring before sleeping (each a few hundred ns of pause): a burst that follows shortly does not
    /// pay a wake-up.</summary>
    private const int SpinLooks = 64;

    private readonly ILinkDevice _device;
    private readonly FramePool _pool;
    private readonly ILogger? _logger;
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly SemaphoreSlim _room = new(0, int.MaxValue);
    private int _producerWaiting;
    private readonly Thread _thread;
    private int _sleeping;
    private volatile bool _stop;

    public TransmitThread(ILinkDevice device, FramePool pool, int capacity, ILogger? logger, string name)
    {
        _device = device;
        _pool = pool;
        _logger = logger;
        Ring = new TransmitRing(capacity);
        _thread = new Thread(Run) { IsBackground = true, Name = name };
    }

    public TransmitRing Ring { get; }

    /// <summary>Frames handed to this thread (written by the producer only).</summary>
    public long FramesHandedOver;

    /// <summary>Times the producer found the ring full and waited for room.</summary>
    public long RingFullWaits;

    /// <summary>Times the producer woke the sleeping thread.</summary>
    public long WakeUps;

    public void Start() => _thread.Start();

    // ---- producer -------------------------------------------------------------------------------------------------------

    /// <summary>Producer: the thread holds no frame (everything handed over has been passed to the device): a frame written
    /// by the producer itself now cannot overtake one of them.</summary>
    public bool IsIdle => Ring.IsDrained;

    /// <summary>Producer: hands <paramref name="frames"/> over in order (the ring owns them from here). Waits for room when
    /// the ring is full (the device is the bottleneck: back-pressure on the loop).</summary>
    public void Hand(ReadOnlySpan<FrameBuffer> frames)
    {
        var ring = Ring;
        foreach (var frame in frames)
        {
            if (ring.TryEnqueue(frame, _pool)) continue;
            Interlocked.Increment(ref RingFullWaits);
            WakeIfSleeping();
            WaitForRoom(frame);
        }
        Volatile.Write(ref FramesHandedOver, FramesHandedOver + frames.Length);
        WakeIfSleeping();
    }

    // The ring is full: the device is the bottleneck. Sleep until the thread has emptied half of it rather than spin
    // (spinning and sched_yield took a third of the loop's CPU in a bulk send, measured) or wake per batch sent.
    private void WaitForRoom(FrameBuffer frame)
    {
        var ring = Ring;
        while (true)
        {
            Interlocked.Exchange(ref _producerWaiting, 1);
            // Sent between the failed attempt and the announcement: that batch's MarkSent may have missed the flag.
            if (ring.TryEnqueue(frame, _pool))
            {
                Volatile.Write(ref _producerWaiting, 0);
                return;
            }
            if (_stop || !_thread.IsAlive)
            {
                Volatile.Write(ref _producerWaiting, 0);
                _pool.Return(frame);   // closing: the thread will not take it
                return;
            }
            _room.Wait(10);   // bounded: a wake-up lost to a race costs 10 ms, never a hang
        }
    }

    /// <summary>Producer: returns the buffers of sent frames to the pool.</summary>
    public void Reclaim() => Ring.Reclaim(_pool);

    /// <summary>Producer: waits until every frame handed over has been passed to the device (an ordering point: frames
    /// written after it by another link queue cannot overtake them).</summary>
    public void WaitIdle()
    {
        var spin = new SpinWait();
        while (!Ring.IsDrained && _thread.IsAlive) spin.SpinOnce(sleep1Threshold: -1);
    }

    private void WakeIfSleeping()
    {
        // A full fence after the tail was published: either the thread sees the frames when it looks again after
        // announcing its sleep, or this sees the announcement and wakes it.
        if (Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1)
        {
            WakeUps++;
            _wake.Release();
        }
    }

    // ---- the thread -----------------------------------------------------------------------------------------------------

    private void Run()
    {
        var ring = Ring;
        while (true)
        {
            var pending = ring.PeekPending(SendBatch);
            if (!pending.IsEmpty)
            {
                Send(pending);
                ring.MarkSent(pending.Length);
                // A full fence after MarkSent (the producer re-checks the ring after announcing its wait); woken once half
                // the ring is free, so a bulk send costs one wake-up per half ring, not per batch.
                Interlocked.MemoryBarrier();
                if (Volatile.Read(ref _producerWaiting) != 0 && ring.PendingForConsumer <= ring.Capacity / 2
                    && Interlocked.CompareExchange(ref _producerWaiting, 0, 1) == 1)
                    _room.Release();
                continue;
            }
            if (_stop) return;   // Stop comes after the producer's last hand-over: nothing more will arrive
            if (SpinForWork()) continue;
            Interlocked.Exchange(ref _sleeping, 1);
            if (ring.HasPending || _stop)
            {
                Volatile.Write(ref _sleeping, 0);
                continue;
            }
            _wake.Wait();
            Volatile.Write(ref _sleeping, 0);
        }
    }

    private bool SpinForWork()
    {
        for (int i = 0; i < SpinLooks; i++)
        {
            if (Ring.HasPending || _stop) return true;
            Thread.SpinWait(16);
        }
        return false;
    }

    private void Send(ReadOnlySpan<FrameBuffer> frames)
    {
        try
        {
            _device.Send(frames);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // As the loop's own send: the frames are lost (TCP recovers them), the device's owner sees the failure.
            if (!_stop && ex is not ObjectDisposedException && _logger is not null) TargetLog.SendFailed(_logger, _device.Name, ex);
        }
    }

    /// <summary>Lets the thread pass what it holds to the device and end; waits for it (bounded), then returns every buffer
    /// still in the ring to the pool. Call after the producer's thread has stopped.</summary>
    public void Stop()
    {
        _stop = true;
        _wake.Release();
        if (_thread.IsAlive) _thread.Join(5000);
        if (!_thread.IsAlive) Ring.ReclaimAll(_pool);
        _wake.Dispose();
        _room.Dispose();
    }
}
