namespace OffloadEmu.Link.Tests;

/// <summary>
/// A test clock that only moves when told to. Timers fire on the thread that calls <see cref="Advance"/>,
/// in due order, so timer-driven behaviour is deterministic. Timestamps are nanoseconds.
/// </summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly List<ManualTimer> _timers = new();
    private long _nowNs;
    private readonly DateTimeOffset _epoch;

    public ManualTimeProvider(DateTimeOffset? start = null) => _epoch = start ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>False to let time pass without firing timers (to test what a component does on its own).</summary>
    public bool FireTimers { get; set; } = true;

    public override long TimestampFrequency => 1_000_000_000;

    public override long GetTimestamp() { lock (_gate) return _nowNs; }

    public override DateTimeOffset GetUtcNow() { lock (_gate) return _epoch.AddTicks(_nowNs / 100); }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var t = new ManualTimer(this, callback, state);
        lock (_gate) _timers.Add(t);
        t.Change(dueTime, period);
        return t;
    }

    /// <summary>Moves the clock forward, firing each timer that falls due at its due time.</summary>
    public void Advance(TimeSpan by)
    {
        long target;
        lock (_gate) target = _nowNs + by.Ticks * 100;
        while (true)
        {
            ManualTimer? next = null;
            lock (_gate)
            {
                foreach (var t in _timers)
                    if (FireTimers && t.DueNs is long d && d <= target && (next is null || d < next.DueNs)) next = t;
                if (next is null) { _nowNs = target; return; }
                _nowNs = Math.Max(_nowNs, next.DueNs!.Value);
                next.DueNs = next.PeriodNs > 0 ? next.DueNs + next.PeriodNs : null;
            }
            next.Fire();
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public long? DueNs;
        public long PeriodNs;

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._gate)
            {
                DueNs = dueTime == Timeout.InfiniteTimeSpan ? null : owner._nowNs + dueTime.Ticks * 100;
                PeriodNs = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks * 100;
            }
            return true;
        }

        public void Dispose()
        {
            lock (owner._gate) { DueNs = null; owner._timers.Remove(this); }
        }

        public ValueTask DisposeAsync() { Dispose(); return ValueTask.CompletedTask; }
    }
}
