namespace OffloadEmu.Target;

/// <summary>
/// The quiescent barrier of a multi-loop target: loop 0 (the coordinator) runs a tree state operation only while every
/// other loop is parked between two rounds, so the operation may read and change any connection and the shared
/// neighbour and path objects without locks. One coordinator; each other loop parks itself when it sees
/// <see cref="Requested"/>. Manual mode (one thread drives every loop) and single-loop targets never wait.
/// </summary>
internal sealed class LoopBarrier(int loops)
{
    private readonly object _gate = new();
    private int _requested;
    private int _parked;
    private long _generation;
    private bool _cancelled;

    /// <summary>Threads run the loops (false: manual mode, one caller thread polls every loop in turn).</summary>
    public bool Threaded { get; set; }

    /// <summary>Exclusive sections entered (tests, diagnostics).</summary>
    public long Entered;

    /// <summary>A loop other than the coordinator must park at its next round boundary.</summary>
    public bool Requested => Volatile.Read(ref _requested) != 0;

    /// <summary>Coordinator: asks every other loop to park (waking each with <paramref name="wake"/>) and waits until they
    /// have. False when the barrier was cancelled (the target is stopping): the caller goes on without exclusivity.</summary>
    public bool Enter(Action<int> wake)
    {
        Interlocked.Increment(ref Entered);
        if (!Threaded || loops <= 1) return true;
        lock (_gate)
        {
            // Loops released by the previous exit may still be leaving: wait until all have left.
            while (_parked != 0 && !_cancelled) Monitor.Wait(_gate, 10);
            if (_cancelled) return false;
            Interlocked.Exchange(ref _requested, 1);
        }
        for (int i = 1; i < loops; i++) wake(i);
        lock (_gate)
        {
            while (_parked != loops - 1 && !_cancelled) Monitor.Wait(_gate, 10);
            return !_cancelled;
        }
    }

    /// <summary>Coordinator: releases the parked loops.</summary>
    public void Exit()
    {
        if (!Threaded || loops <= 1) return;
        lock (_gate)
        {
            Volatile.Write(ref _requested, 0);
            _generation++;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>A non-coordinator loop, between rounds: parks until the coordinator exits.</summary>
    public void Park()
    {
        lock (_gate)
        {
            if (_requested == 0 || _cancelled) return;
            long generation = _generation;
            _parked++;
            Monitor.PulseAll(_gate);
            while (_generation == generation && !_cancelled) Monitor.Wait(_gate, 100);
            _parked--;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Stopping: nobody waits any more.</summary>
    public void Cancel()
    {
        lock (_gate)
        {
            _cancelled = true;
            Monitor.PulseAll(_gate);
        }
    }
}
