namespace OffloadEmu.Chimney;

/// <summary>
/// The request unit of the chimney I/O calls (an NDIS NET_BUFFER_LIST): a status, three per-request info values and a
/// list of <see cref="NetBuffer"/>s, linked into chains through <see cref="Next"/>.
/// </summary>
/// <remarks>
/// <para>
/// Chimney spec §0: every send, receive post, forward, disconnect and indication travels as NBLs; completions hand the
/// same objects back with <see cref="Status"/> and the info values filled in and may batch NBLs of several requests.
/// Spec §3 and §5 define the info values: <see cref="TcpOffloadBytesTransferred"/> (bytes completed),
/// <see cref="TcpReceiveNoPush"/> (receive post mode) and <see cref="TcpReceiveBytesTransferred"/> (bytes the host
/// pre-filled in a post).
/// </para>
/// <para>
/// The net buffers are allocated once with the list (fixed capacity) and handed out by <see cref="AddBuffer"/>, so a
/// list from a <see cref="NetBufferListPool"/> is reused without allocation. Not thread-safe: one owner at a time
/// (requester until the call, target until completion), as in NDIS.
/// </para>
/// </remarks>
public sealed class NetBufferList
{
    /// <summary>Net-buffer capacity used when none is given.</summary>
    public const int DefaultBufferCapacity = 4;

    private readonly NetBuffer[] _buffers;
    private int _bufferCount;

    /// <summary>
    /// Creates an empty list able to hold <paramref name="bufferCapacity"/> net buffers of
    /// <paramref name="segmentCapacity"/> segments each; all are allocated now.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A capacity is less than 1.</exception>
    public NetBufferList(int bufferCapacity = DefaultBufferCapacity, int segmentCapacity = NetBuffer.DefaultSegmentCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferCapacity, 1);
        _buffers = new NetBuffer[bufferCapacity];
        for (int i = 0; i < _buffers.Length; i++) _buffers[i] = new NetBuffer(segmentCapacity);
    }

    /// <summary>Completion status, written by the completer (spec §3-§6).</summary>
    public NdisStatus Status { get; set; }

    /// <summary>
    /// Bytes completed: sent and ACKed for a send or disconnect (spec §5, §6.1), placed for a receive post (spec §3).
    /// Each NB's data start has been advanced by its share, so a completed post's bytes are the ones just before its
    /// data start (<see cref="NetBuffer.CopyBeforeDataStart"/>).
    /// </summary>
    public int TcpOffloadBytesTransferred { get; set; }

    /// <summary>Receive posts: true = non-push mode (complete only when full), false = push mode (spec §3).</summary>
    public bool TcpReceiveNoPush { get; set; }

    /// <summary>
    /// Receive posts: bytes the host already placed in the post's buffer (spec §3, "pre-filled"). They lie just before the
    /// data start: the data window is the free space after them, where the target writes; a non-zero value starts the
    /// push timer at once. At completion the post holds these bytes and then the <see cref="TcpOffloadBytesTransferred"/>
    /// the target placed, all ending at the (advanced) data start (docs/chimney.md, "Receive posts").
    /// </summary>
    public int TcpReceiveBytesTransferred { get; set; }

    /// <summary>Next list in a chain (send/post/forward calls, batched completions, buffered data), or null.</summary>
    public NetBufferList? Next { get; set; }

    /// <summary>Requester's slot (NDIS ProtocolReserved): the host keeps its per-request context here.</summary>
    public object? ProtocolReserved { get; set; }

    /// <summary>Target's slot (NDIS MiniportReserved) while it owns the list, e.g. for queueing (spec §5).</summary>
    public object? MiniportReserved { get; set; }

    /// <summary>[EMU] request identifier, so a request can be named across the control protocol and in traces (spec §0).</summary>
    public ulong RequestId { get; set; }

    /// <summary>Most net buffers this list can hold.</summary>
    public int BufferCapacity => _buffers.Length;

    /// <summary>Segment capacity of each net buffer.</summary>
    public int SegmentCapacity => _buffers[0].SegmentCapacity;

    /// <summary>Net buffers currently in the list.</summary>
    public int BufferCount => _bufferCount;

    /// <summary>The pool the list came from, or null for a list made with <c>new</c>.</summary>
    internal NetBufferListPool? Owner { get; set; }

    /// <summary>True while the list is rented from its pool (guards double returns).</summary>
    internal bool IsRented { get; set; }

    /// <summary>The net buffer at <paramref name="index"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No such buffer.</exception>
    public NetBuffer this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _bufferCount);
            return _buffers[index];
        }
    }

    /// <summary>Sum of the <see cref="NetBuffer.DataLength"/> of all net buffers.</summary>
    public long DataLength
    {
        get
        {
            long total = 0;
            for (int i = 0; i < _bufferCount; i++) total += _buffers[i].DataLength;
            return total;
        }
    }

    /// <summary>Appends the next (empty) net buffer and returns it for filling.</summary>
    /// <exception cref="InvalidOperationException">The buffer capacity is reached.</exception>
    public NetBuffer AddBuffer()
        => TryAddBuffer(out var buffer)
            ? buffer
            : throw new InvalidOperationException($"The net buffer list already holds its capacity of {_buffers.Length} net buffers.");

    /// <summary>Appends the next (empty) net buffer; false when the capacity is reached.</summary>
    public bool TryAddBuffer(out NetBuffer buffer)
    {
        if (_bufferCount == _buffers.Length)
        {
            buffer = null!;
            return false;
        }
        buffer = _buffers[_bufferCount++];
        buffer.Reset();
        return true;
    }

    /// <summary>
    /// Copies the data of the list, taken as one stream across its net buffers, from <paramref name="offset"/> into
    /// <paramref name="destination"/>; returns the bytes copied.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative or beyond <see cref="DataLength"/>.</exception>
    public int CopyTo(long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, DataLength);
        int copied = 0;
        for (int i = 0; i < _bufferCount && copied < destination.Length; i++)
        {
            NetBuffer nb = _buffers[i];
            if (offset >= nb.DataLength)
            {
                offset -= nb.DataLength;
                continue;
            }
            copied += nb.CopyTo((int)offset, destination[copied..]);
            offset = 0;
        }
        return copied;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the data of the list, taken as one stream across its net buffers, from
    /// <paramref name="offset"/>; returns the bytes written.
    /// </summary>
    /// <exception cref="InvalidOperationException">A net buffer written to holds read-only segments.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative or beyond <see cref="DataLength"/>.</exception>
    public int CopyFrom(long offset, ReadOnlySpan<byte> source)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, DataLength);
        int copied = 0;
        for (int i = 0; i < _bufferCount && copied < source.Length; i++)
        {
            NetBuffer nb = _buffers[i];
            if (offset >= nb.DataLength)
            {
                offset -= nb.DataLength;
                continue;
            }
            copied += nb.CopyFrom((int)offset, source[copied..]);
            offset = 0;
        }
        return copied;
    }

    /// <summary>Returns the list to its just-constructed state: no buffers, no segments, status and slots cleared.</summary>
    public void Reset()
    {
        for (int i = 0; i < _bufferCount; i++) _buffers[i].Reset();
        _bufferCount = 0;
        Status = NdisStatus.Success;
        TcpOffloadBytesTransferred = 0;
        TcpReceiveNoPush = false;
        TcpReceiveBytesTransferred = 0;
        Next = null;
        ProtocolReserved = null;
        MiniportReserved = null;
        RequestId = 0;
    }

    /// <summary>A short description; does not follow <see cref="Next"/>.</summary>
    public override string ToString()
        => $"NBL#{RequestId} {Status} nb={_bufferCount} len={DataLength} xfer={TcpOffloadBytesTransferred}{(Next is null ? "" : " ->")}";
}
