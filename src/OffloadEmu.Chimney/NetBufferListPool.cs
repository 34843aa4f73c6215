namespace OffloadEmu.Chimney;

/// <summary>
/// A bounded pool of <see cref="NetBufferList"/>s of one shape (net buffers per list, segments per buffer): after
/// warm-up, renting and returning allocates nothing.
/// </summary>
/// <remarks>
/// Chimney spec §0 ([EMU] pooled request objects) and architecture §4 (bounded pools, one release point). Lists are
/// created on demand up to <see cref="Capacity"/>; when all are rented <see cref="TryRent"/> fails instead of growing,
/// so a runaway requester meets back-pressure rather than unbounded memory. Thread-safe: requesters and the target
/// rent and return from different threads.
/// </remarks>
public sealed class NetBufferListPool
{
    private readonly NetBufferList[] _free;
    private readonly Lock _lock = new();
    private int _freeCount;
    private int _created;

    /// <summary>Creates a pool of at most <paramref name="capacity"/> lists of the given shape.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is less than 1.</exception>
    public NetBufferListPool(int capacity, int bufferCapacity = NetBufferList.DefaultBufferCapacity, int segmentCapacity = NetBuffer.DefaultSegmentCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentCapacity, 1);
        _free = new NetBufferList[capacity];
        BufferCapacity = bufferCapacity;
        SegmentCapacity = segmentCapacity;
    }

    /// <summary>Most lists the pool hands out at once.</summary>
    public int Capacity => _free.Length;

    /// <summary>Net buffers per list.</summary>
    public int BufferCapacity { get; }

    /// <summary>Segments per net buffer.</summary>
    public int SegmentCapacity { get; }

    /// <summary>Lists currently rented.</summary>
    public int RentedCount
    {
        get
        {
            lock (_lock) return _created - _freeCount;
        }
    }

    /// <summary>Rents an empty list; false when all <see cref="Capacity"/> lists are rented.</summary>
    public bool TryRent(out NetBufferList list)
    {
        lock (_lock)
        {
            if (_freeCount > 0)
            {
                list = _free[--_freeCount];
                _free[_freeCount] = null!;
            }
            else if (_created < _free.Length)
            {
                list = new NetBufferList(BufferCapacity, SegmentCapacity) { Owner = this };
                _created++;
            }
            else
            {
                list = null!;
                return false;
            }
            list.IsRented = true;
            return true;
        }
    }

    /// <summary>Rents an empty list.</summary>
    /// <exception cref="InvalidOperationException">All lists are rented.</exception>
    public NetBufferList Rent()
        => TryRent(out var list)
            ? list
            : throw new InvalidOperationException($"All {Capacity} net buffer lists of the pool are rented.");

    /// <summary>Resets <paramref name="list"/> (dropping its memory references) and returns it to the pool.</summary>
    /// <exception cref="ArgumentException">The list does not belong to this pool.</exception>
    /// <exception cref="InvalidOperationException">The list was already returned.</exception>
    public void Return(NetBufferList list)
    {
        ArgumentNullException.ThrowIfNull(list);
        if (!ReferenceEquals(list.Owner, this))
            throw new ArgumentException("The net buffer list does not belong to this pool.", nameof(list));
        lock (_lock)
        {
            if (!list.IsRented)
                throw new InvalidOperationException("The net buffer list was returned twice.");
            list.IsRented = false;
        }
        // Reset outside the lock: nobody else can reach the list until it is on the free stack.
        list.Reset();
        lock (_lock) _free[_freeCount++] = list;
    }
}
