namespace OffloadEmu.Link.Decorators;

/// <summary>
/// One direction of an <see cref="ImpairmentDevice"/>: makes the netem decisions for each frame and
/// holds the surviving copies in a queue ordered by due time (then by arrival, so equal due times keep
/// their order). Not thread-safe; the device serialises access per direction.
/// </summary>
internal sealed class ImpairmentPipe
{
    private readonly ImpairmentSpec _spec;
    private readonly FramePool _pool;
    private readonly LinkStatistics _statistics;
    private readonly PriorityQueue<FrameBuffer, (long Due, long Sequence)> _queue = new();
    private readonly long _delayTicks;
    private readonly long _jitterTicks;
    private readonly double _ticksPerBit;
    private Xoshiro256 _random;
    private long _sequence;
    private int _reorderCounter;
    private long _linkFreeAt = long.MinValue;

    public ImpairmentPipe(ImpairmentSpec spec, ulong seed, long timestampFrequency, FramePool pool, LinkStatistics statistics)
    {
        _spec = spec;
        _pool = pool;
        _statistics = statistics;
        _random = new Xoshiro256(seed);
        _delayTicks = ToTicks(spec.Delay, timestampFrequency);
        _jitterTicks = ToTicks(spec.Jitter, timestampFrequency);
        _ticksPerBit = spec.RateBitsPerSecond > 0 ? (double)timestampFrequency / spec.RateBitsPerSecond : 0;
    }

    private static long ToTicks(TimeSpan span, long frequency) => (long)((Int128)span.Ticks * frequency / TimeSpan.TicksPerSecond);

    /// <summary>Frames held.</summary>
    public int Count => _queue.Count;

    /// <summary>
    /// Decides the fate of <paramref name="frame"/> arriving at <paramref name="now"/> and queues what
    /// survives. With <paramref name="owned"/> the pipe takes the buffer itself (it must come from the
    /// pipe's pool); otherwise it copies and the caller keeps its buffer.
    /// </summary>
    public void Admit(FrameBuffer frame, long now, bool owned)
    {
        // Draw order is fixed (loss, duplicate, corrupt, then per copy jitter and reorder) so a seed
        // replays the same decisions for the same frames.
        if (_spec.LossPercent > 0 && _random.Chance(_spec.LossPercent))
        {
            _statistics.CountDrop(DropReason.Impairment);
            if (owned) _pool.Return(frame);
            return;
        }
        bool duplicate = _spec.DuplicatePercent > 0 && _random.Chance(_spec.DuplicatePercent);
        bool corrupt = _spec.CorruptPercent > 0 && _random.Chance(_spec.CorruptPercent);

        FrameBuffer? original = owned ? frame : Copy(frame);
        if (original is null) return;
        // The duplicate is copied before the original is corrupted: as in netem, only one copy is damaged.
        FrameBuffer? copy = duplicate ? Copy(original) : null;
        if (corrupt) Corrupt(original);
        Enqueue(original, now);
        if (copy is not null) Enqueue(copy, now);
    }

    private FrameBuffer? Copy(FrameBuffer source)
    {
        if (source.Length > _pool.BufferSize)
        {
            _statistics.CountDrop(DropReason.TooLong);
            return null;
        }
        var b = _pool.Rent();
        source.Span.CopyTo(b.Capacity);
        b.Length = source.Length;
        b.TimestampNs = source.TimestampNs;
        return b;
    }

    private void Corrupt(FrameBuffer frame)
    {
        // Past the Ethernet header, so the damage lands in the IP header or payload where a checksum
        // catches it (a flipped MAC would just misdeliver the frame).
        const int ethernetHeader = 14;
        if (frame.Length <= ethernetHeader) return;
        int index = ethernetHeader + _random.NextInt(frame.Length - ethernetHeader);
        frame.Array[index] ^= (byte)(1 << _random.NextInt(8));
    }

    private void Enqueue(FrameBuffer frame, long now)
    {
        long delay = _delayTicks;
        if (_jitterTicks > 0) delay += (long)((_random.NextDouble() * 2 - 1) * _jitterTicks);
        if (delay < 0) delay = 0;

        // netem: a frame is a reorder candidate once gap-1 frames in a row have been delayed; a
        // candidate skips the delay (and the rate queue) with the reorder chance.
        bool immediate = false;
        if (_spec.ReorderPercent > 0)
        {
            if (_reorderCounter < _spec.ReorderGap - 1 || !_random.Chance(_spec.ReorderPercent)) _reorderCounter++;
            else { immediate = true; _reorderCounter = 0; }
        }

        long due;
        if (immediate)
        {
            due = now;
        }
        else
        {
            due = now + delay;
            if (_ticksPerBit > 0)
            {
                // Serialisation: the frame starts when both its delay is over and the previous one has left.
                due = Math.Max(due, _linkFreeAt) + (long)Math.Ceiling(frame.Length * 8 * _ticksPerBit);
                _linkFreeAt = due;
            }
        }
        _queue.Enqueue(frame, (due, _sequence++));
    }

    /// <summary>The earliest due time, if any frame is held.</summary>
    public bool TryPeekDue(out long due)
    {
        if (_queue.TryPeek(out _, out var priority))
        {
            due = priority.Due;
            return true;
        }
        due = 0;
        return false;
    }

    /// <summary>Moves frames due at <paramref name="now"/> into <paramref name="into"/>; the caller returns them to the pool.</summary>
    public int Release(long now, Span<FrameBuffer> into)
    {
        int n = 0;
        while (n < into.Length && _queue.TryPeek(out _, out var priority) && priority.Due <= now)
            into[n++] = _queue.Dequeue();
        return n;
    }

    /// <summary>Returns every held frame to the pool (they are lost, like a deleted qdisc's backlog).</summary>
    public void Clear()
    {
        while (_queue.TryDequeue(out var frame, out _)) _pool.Return(frame);
    }
}
