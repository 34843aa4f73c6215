namespace OffloadEmu.Tcp;

/// <summary>The bounded receive buffer: a ring holding in-order bytes not yet taken by the consumer, followed (in its free
/// part) by out-of-order bytes placed at their offset from RcvNxt. Its storage is taken from a
/// <see cref="ReceiveBufferPool"/> when the first byte must be written and given back (<see cref="Release"/>) when it
/// holds nothing again, so an idle connection holds no data buffer.</summary>
/// <remarks>Keeping out-of-order data inside the advertised window's own space (as smoltcp does) makes the memory bound
/// the buffer size itself: a peer cannot make the connection hold more than it advertised. The capacity (the window's
/// space) is fixed at creation and does not depend on whether storage is held: the window advertised is the same either
/// way, and the pool never refuses a take (it grows), so that space is always there when the data comes.</remarks>
internal sealed class ReceiveRing
{
    private readonly ReceiveBufferPool _pool;
    // The window's space; grows only by Grow (UPDATE_RCV_WND to a larger buffer).
    private int _capacity;
    // Null while nothing is buffered (no in-order bytes, no out-of-order bytes): taken at the first write.
    private byte[]? _buffer;
    private int _read;
    private int _count;

    public ReceiveRing(int capacity, ReceiveBufferPool pool)
    {
        _capacity = capacity;
        _pool = pool;
    }

    public int Capacity => _capacity;

    /// <summary>In-order bytes waiting for the consumer.</summary>
    public int Count => _count;

    public int Free => _capacity - _count;

    /// <summary>Storage is held (taken from the pool and not given back yet).</summary>
    public bool HasBuffer => _buffer is not null;

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> bytes past the end of the in-order data.</summary>
    public void WriteAt(int offset, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        // Not zeroed: only bytes written here and committed are ever read, and a machine is built per hand-over (every
        // upload on the host, every initiate on the target), where zeroing a 64 KiB..4 MiB ring was the largest single
        // cost of an offload churn (docs/performance.md).
        var buffer = _buffer ??= _pool.Take(_capacity);
        int capacity = _capacity;
        int position = _read + _count + offset;
        if (position >= capacity) position -= capacity;
        if (position >= capacity) position -= capacity;
        int first = Math.Min(data.Length, capacity - position);
        data[..first].CopyTo(buffer.AsSpan(position));
        if (first < data.Length) data[first..].CopyTo(buffer);
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> bytes past the read position (inside the in-order
    /// data: bytes committed without being written, held by the consumer, put back).</summary>
    public void WriteFromRead(int offset, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        var buffer = _buffer ??= _pool.Take(_capacity);
        int capacity = _capacity;
        int position = _read + offset;
        if (position >= capacity) position -= capacity;
        int first = Math.Min(data.Length, capacity - position);
        data[..first].CopyTo(buffer.AsSpan(position));
        if (first < data.Length) data[first..].CopyTo(buffer);
    }

    /// <summary>Makes <paramref name="count"/> bytes after the in-order data part of it (they were written, or they are
    /// held outside the ring and only take its space).</summary>
    public void Commit(int count) => _count += count;

    /// <summary>The longest contiguous run of in-order bytes at the read position.</summary>
    public ReadOnlySpan<byte> Peek() => _count == 0 ? default : _buffer.AsSpan(_read, Math.Min(_count, _capacity - _read));

    public void Consume(int count)
    {
        _count -= count;
        _read += count;
        // The read position is never rewound while storage is held: out-of-order bytes sit at absolute positions after it.
        if (_read >= _capacity) _read -= _capacity;
    }

    public int Read(Span<byte> destination)
    {
        int total = 0;
        while (total < destination.Length && _count > 0)
        {
            var run = Peek();
            int n = Math.Min(run.Length, destination.Length - total);
            run[..n].CopyTo(destination[total..]);
            Consume(n);
            total += n;
        }
        return total;
    }

    /// <summary>Copies in-order bytes starting <paramref name="offset"/> bytes after the read position without consuming
    /// them; returns the bytes copied (at most what is buffered after the offset).</summary>
    public int CopyTo(int offset, Span<byte> destination)
    {
        int n = Math.Min(destination.Length, _count - offset);
        if (n <= 0) return 0;
        var buffer = _buffer!;
        int capacity = _capacity;
        int position = _read + offset;
        if (position >= capacity) position -= capacity;
        int first = Math.Min(n, capacity - position);
        buffer.AsSpan(position, first).CopyTo(destination);
        if (first < n) buffer.AsSpan(0, n - first).CopyTo(destination[first..]);
        return n;
    }

    /// <summary>Gives the storage back to the pool. Only when no in-order bytes are held and the owner holds no
    /// out-of-order bytes in it either (they would be lost): the next write takes storage again.</summary>
    public void Release()
    {
        if (_buffer is not { } buffer) return;
        _buffer = null;
        _read = 0;
        _count = 0;
        _pool.Return(buffer);
    }

    /// <summary>Enlarges the ring to <paramref name="capacity"/> bytes, keeping every byte at its offset from the read
    /// position (the in-order data and the out-of-order bytes written after it). A smaller capacity is a no-op. Without
    /// storage only the capacity changes; with storage, larger storage is taken from the pool and the old given back.</summary>
    public void Grow(int capacity)
    {
        int old = _capacity;
        if (capacity <= old) return;
        if (_buffer is { } buffer)
        {
            var next = _pool.Take(capacity);
            buffer.AsSpan(_read, old - _read).CopyTo(next);
            buffer.AsSpan(0, _read).CopyTo(next.AsSpan(old - _read));
            _buffer = next;
            _read = 0;
            _pool.Return(buffer);
        }
        _capacity = capacity;
    }
}
