namespace OffloadEmu.Tcp;

/// <summary>The bounded receive buffer: a ring holding in-order bytes not yet taken by the consumer, followed (in its free
/// part) by out-of-order bytes placed at their offset from RcvNxt. Allocated once per connection.</summary>
/// <remarks>Keeping out-of-order data inside the advertised window's own space (as smoltcp does) makes the memory bound
/// the buffer size itself: a peer cannot make the connection hold more than it advertised.</remarks>
internal sealed class ReceiveRing
{
    private byte[] _buffer;
    private int _read;
    private int _count;

    /// <remarks>Not zeroed: only bytes written (<see cref="WriteAt"/>) and committed are ever read, and a machine is built
    /// per hand-over (every upload on the host, every initiate on the target), where zeroing a 64 KiB..4 MiB ring was the
    /// largest single cost of an offload churn (12 % of the CPU samples of terminate+initiate pairs through the daemon,
    /// docs/performance.md).</remarks>
    public ReceiveRing(int capacity) => _buffer = GC.AllocateUninitializedArray<byte>(capacity);

    public int Capacity => _buffer.Length;

    /// <summary>In-order bytes waiting for the consumer.</summary>
    public int Count => _count;

    public int Free => _buffer.Length - _count;

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> bytes past the end of the in-order data.</summary>
    public void WriteAt(int offset, ReadOnlySpan<byte> data)
    {
        int capacity = _buffer.Length;
        int position = _read + _count + offset;
        if (position >= capacity) position -= capacity;
        if (position >= capacity) position -= capacity;
        int first = Math.Min(data.Length, capacity - position);
        data[..first].CopyTo(_buffer.AsSpan(position));
        if (first < data.Length) data[first..].CopyTo(_buffer);
    }

    /// <summary>Makes <paramref name="count"/> bytes after the in-order data part of it.</summary>
    public void Commit(int count) => _count += count;

    /// <summary>The longest contiguous run of in-order bytes at the read position.</summary>
    public ReadOnlySpan<byte> Peek() => _buffer.AsSpan(_read, Math.Min(_count, _buffer.Length - _read));

    public void Consume(int count)
    {
        _count -= count;
        _read += count;
        // The read position is never rewound when the ring empties: out-of-order bytes sit at absolute positions after it.
        if (_read >= _buffer.Length) _read -= _buffer.Length;
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
        int capacity = _buffer.Length;
        int position = _read + offset;
        if (position >= capacity) position -= capacity;
        int first = Math.Min(n, capacity - position);
        _buffer.AsSpan(position, first).CopyTo(destination);
        if (first < n) _buffer.AsSpan(0, n - first).CopyTo(destination[first..]);
        return n;
    }

    /// <summary>Enlarges the ring to <paramref name="capacity"/> bytes, keeping every byte at its offset from the read
    /// position (the in-order data and the out-of-order bytes written after it). A smaller capacity is a no-op.</summary>
    public void Grow(int capacity)
    {
        int old = _buffer.Length;
        if (capacity <= old) return;
        var next = GC.AllocateUninitializedArray<byte>(capacity);
        _buffer.AsSpan(_read).CopyTo(next);
        _buffer.AsSpan(0, _read).CopyTo(next.AsSpan(old - _read));
        _buffer = next;
        _read = 0;
    }
}
