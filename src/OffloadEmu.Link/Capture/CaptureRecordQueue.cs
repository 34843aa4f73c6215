using System.Buffers.Binary;

namespace OffloadEmu.Link.Capture;

/// <summary>
/// Records for an extra interface of a pcapng capture (another link type next to the Ethernet frames, e.g. the control
/// messages of the daemon as LINKTYPE_WIRESHARK_UPPER_PDU), queued by any thread and written by a
/// <see cref="Decorators.CaptureDevice"/> in time order with its frames.
/// </summary>
/// <remarks>
/// <para>Producers never wait for the file: <see cref="TryEnqueue"/> copies the record into a preallocated buffer under
/// a short lock (a memcpy) and returns. Nothing is allocated per record. The queue is bounded: two buffers of half
/// the capacity each, one filled by the producers while the capture device writes out the other; a record that does
/// not fit is dropped and counted in <see cref="Dropped"/>, never buffered beyond the capacity.</para>
/// <para>The capture device drains the queue before it writes each batch of frames (so a record queued before a frame
/// precedes it in the file), on its idle flush timer, and when it closes. Records longer than
/// <see cref="SnapLength"/> are cut; the original length is kept in the file, as for frames.</para>
/// </remarks>
public sealed class CaptureRecordQueue
{
    // Per record in the buffer: i64 timestamp, i32 original length, i32 captured length, i32 direction, then the bytes
    // padded to 8 so the next header is aligned.
    private const int RecordHeader = 20;

    private readonly Lock _lock = new();
    private byte[] _filling;
    private byte[] _draining;
    private int _used;
    private long _enqueued;
    private long _dropped;
    private long _written;

    /// <summary>Creates a queue for an interface named <paramref name="interfaceName"/> of link type
    /// <paramref name="linkType"/>.</summary>
    /// <param name="interfaceName">The pcapng <c>if_name</c> of the interface.</param>
    /// <param name="linkType">Its LINKTYPE_* value.</param>
    /// <param name="capacityBytes">Bytes queued at most (records and their headers), split over two buffers.</param>
    /// <param name="snapLength">Bytes kept per record.</param>
    public CaptureRecordQueue(string interfaceName, int linkType, int capacityBytes = 4 * 1024 * 1024, int snapLength = 65_535)
    {
        ArgumentException.ThrowIfNullOrEmpty(interfaceName);
        ArgumentOutOfRangeException.ThrowIfLessThan(snapLength, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 2 * (RecordHeader + snapLength + 8));
        InterfaceName = interfaceName;
        LinkType = linkType;
        SnapLength = snapLength;
        _filling = new byte[capacityBytes / 2];
        _draining = new byte[capacityBytes / 2];
    }

    /// <summary>The interface's name in the file.</summary>
    public string InterfaceName { get; }

    /// <summary>The interface's link type.</summary>
    public int LinkType { get; }

    /// <summary>Bytes kept per record.</summary>
    public int SnapLength { get; }

    /// <summary>Records queued so far.</summary>
    public long Enqueued => Interlocked.Read(ref _enqueued);

    /// <summary>Records dropped because the queue was full (the capture could not keep up, or no capture drains it).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Records written to a capture file.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>
    /// Queues one record made of <paramref name="head"/> followed by <paramref name="body"/>, cut at
    /// <see cref="SnapLength"/>; <paramref name="originalLength"/> is the length the record had before any cut (at
    /// least head plus body). False (and counted) when the queue is full.
    /// </summary>
    public bool TryEnqueue(long timestampNs, CaptureDirection direction, ReadOnlySpan<byte> head, ReadOnlySpan<byte> body, int originalLength)
    {
        int captured = Math.Min(head.Length + body.Length, SnapLength);
        int headPart = Math.Min(head.Length, captured);
        int bodyPart = captured - headPart;
        int size = Align8(RecordHeader + captured);
        originalLength = Math.Max(originalLength, head.Length + body.Length);
        lock (_lock)
        {
            if (_filling.Length - _used < size)
            {
                Interlocked.Increment(ref _dropped);
                return false;
            }
            var d = _filling.AsSpan(_used, size);
            BinaryPrimitives.WriteInt64LittleEndian(d, timestampNs);
            BinaryPrimitives.WriteInt32LittleEndian(d[8..], originalLength);
            BinaryPrimitives.WriteInt32LittleEndian(d[12..], captured);
            BinaryPrimitives.WriteInt32LittleEndian(d[16..], (int)direction);
            head[..headPart].CopyTo(d[RecordHeader..]);
            body[..bodyPart].CopyTo(d[(RecordHeader + headPart)..]);
            _used += size;
        }
        Interlocked.Increment(ref _enqueued);
        return true;
    }

    /// <summary>A visitor of drained records; the span is valid only during the call.</summary>
    internal delegate void RecordWriter(long timestampNs, CaptureDirection direction, ReadOnlySpan<byte> record, int originalLength);

    /// <summary>
    /// Takes every queued record and hands it to <paramref name="write"/> in queue order (one drainer at a time: the
    /// capture device calls this under its own lock). Returns how many records were handed over.
    /// </summary>
    internal int Drain(RecordWriter write)
    {
        byte[] buffer;
        int used;
        lock (_lock)
        {
            if (_used == 0) return 0;
            buffer = _filling;
            used = _used;
            _filling = _draining;
            _draining = buffer;
            _used = 0;
        }
        int count = 0;
        for (int at = 0; at < used;)
        {
            var h = buffer.AsSpan(at, RecordHeader);
            long ts = BinaryPrimitives.ReadInt64LittleEndian(h);
            int original = BinaryPrimitives.ReadInt32LittleEndian(h[8..]);
            int captured = BinaryPrimitives.ReadInt32LittleEndian(h[12..]);
            var direction = (CaptureDirection)BinaryPrimitives.ReadInt32LittleEndian(h[16..]);
            write(ts, direction, buffer.AsSpan(at + RecordHeader, captured), original);
            at += Align8(RecordHeader + captured);
            count++;
        }
        Interlocked.Add(ref _written, count);
        return count;
    }

    /// <summary>Drops every queued record (no capture to write them to), counting them as dropped.</summary>
    internal void Discard()
    {
        long records = 0;
        lock (_lock)
        {
            for (int at = 0; at < _used; records++)
                at += Align8(RecordHeader + BinaryPrimitives.ReadInt32LittleEndian(_filling.AsSpan(at + 12, 4)));
            _used = 0;
        }
        Interlocked.Add(ref _dropped, records);
    }

    private static int Align8(int n) => (n + 7) & ~7;
}
