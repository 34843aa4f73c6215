namespace OffloadEmu.Tcp;

/// <summary>The queue of caller-owned send buffers, which is also the retransmission queue: the machine reads segment
/// payloads straight from the queued buffers (zero-copy) and completes each buffer, in order, once SndUna passes its end.</summary>
/// <remarks>Chimney spec §5 and architecture §4. The entry array grows by doubling on enqueue only, so steady-state
/// sending allocates nothing.</remarks>
internal sealed class SendQueue
{
    // Empty until the first buffer is queued (an idle connection that never sent holds no entries); then 16 entries,
    // doubled as needed and kept (a connection that sends again allocates nothing).
    private ITcpSendBuffer?[] _buffers = [];
    private int[] _lengths = [];
    private int _head;
    private int _count;
    private long _totalBytes;
    // Bytes of the head buffer already acknowledged.
    private int _headAcked;
    // Read cursor cache: the entry (as an index from head) and the byte offset (from the start of unacked data) where it starts.
    private int _cursorEntry;
    private long _cursorOffset;

    public int Count => _count;

    /// <summary>Unacknowledged bytes held (from SndUna's data byte to the end).</summary>
    public long Bytes => _totalBytes - _headAcked;

    public void Enqueue(ITcpSendBuffer buffer)
    {
        if (_count == _buffers.Length) Grow();
        int tail = (_head + _count) & (_buffers.Length - 1);
        _buffers[tail] = buffer;
        _lengths[tail] = buffer.Length;
        _count++;
        _totalBytes += buffer.Length;
    }

    /// <summary>Marks the first <paramref name="bytes"/> of the head buffer as already acknowledged (import of a
    /// connection whose first send buffer is partly acknowledged).</summary>
    public void SetHeadAcknowledged(int bytes)
    {
        _headAcked = bytes;
        _cursorEntry = 0;
        _cursorOffset = -bytes;
    }

    /// <summary>Bytes of the head buffer already acknowledged.</summary>
    public int HeadAcknowledged => _headAcked;

    /// <summary>Adds every queued buffer, oldest first, to <paramref name="destination"/>.</summary>
    public void CopyBuffersTo(ICollection<ITcpSendBuffer> destination)
    {
        for (int i = 0; i < _count; i++) destination.Add(_buffers[(_head + i) & (_buffers.Length - 1)]!);
    }

    /// <summary>Drops <paramref name="bytes"/> acknowledged bytes from the front and reports each buffer whose end was passed.</summary>
    public void Acknowledge(long bytes, ITcpSendCompletionSink? sink)
    {
        while (bytes > 0 && _count > 0)
        {
            int length = _lengths[_head];
            long left = length - _headAcked;
            if (bytes < left)
            {
                _headAcked += (int)bytes;
                break;
            }
            bytes -= left;
            var done = _buffers[_head]!;
            _buffers[_head] = null;
            _head = (_head + 1) & (_buffers.Length - 1);
            _count--;
            _totalBytes -= length;
            _headAcked = 0;
            sink?.OnSendCompleted(done, length);
        }
        // Empty buffers at the front are complete as soon as everything before them is.
        while (_count > 0 && _lengths[_head] == 0)
        {
            var done = _buffers[_head]!;
            _buffers[_head] = null;
            _head = (_head + 1) & (_buffers.Length - 1);
            _count--;
            sink?.OnSendCompleted(done, 0);
        }
        // Offsets are relative to the first unacknowledged byte, which sits _headAcked bytes into the head entry.
        _cursorEntry = 0;
        _cursorOffset = -_headAcked;
    }

    /// <summary>Copies <paramref name="destination"/>.Length bytes starting <paramref name="offset"/> bytes after the
    /// first unacknowledged byte; returns true when the last byte of some queued buffer is among them (the segment
    /// carrying it gets PSH: one push per buffer list, chimney spec §5).</summary>
    public bool CopyTo(long offset, Span<byte> destination)
    {
        bool endsBuffer = false;
        int mask = _buffers.Length - 1;
        int entry = 0;
        long entryStart = -_headAcked;
        if (_cursorOffset <= offset && _cursorEntry < _count)
        {
            entry = _cursorEntry;
            entryStart = _cursorOffset;
        }
        while (destination.Length > 0)
        {
            int index = (_head + entry) & mask;
            int length = _lengths[index];
            long within = offset - entryStart;
            if (within >= length)
            {
                entryStart += length;
                entry++;
                continue;
            }
            int n = (int)Math.Min(length - within, destination.Length);
            _buffers[index]!.CopyTo((int)within, destination[..n]);
            if (within + n == length) endsBuffer = true;
            destination = destination[n..];
            offset += n;
            _cursorEntry = entry;
            _cursorOffset = entryStart;
        }
        return endsBuffer;
    }

    /// <summary>Removes every buffer without completing it (abort); returns them to the caller's sink as failed is the
    /// owner's business, so they are simply released here.</summary>
    public void Clear()
    {
        Array.Clear(_buffers);
        _head = 0;
        _count = 0;
        _totalBytes = 0;
        _headAcked = 0;
        _cursorEntry = 0;
        _cursorOffset = 0;
    }

    private void Grow()
    {
        int size = Math.Max(16, _buffers.Length * 2);
        var buffers = new ITcpSendBuffer?[size];
        var lengths = new int[size];
        for (int i = 0; i < _count; i++)
        {
            int from = (_head + i) & (_buffers.Length - 1);
            buffers[i] = _buffers[from];
            lengths[i] = _lengths[from];
        }
        _buffers = buffers;
        _lengths = lengths;
        _head = 0;
    }
}
