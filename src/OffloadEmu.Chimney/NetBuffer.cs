using System.Runtime.InteropServices;

namespace OffloadEmu.Chimney;

/// <summary>
/// One byte range over a chain of memory segments (the MDL chain of an NDIS NET_BUFFER): the unit of data inside a
/// <see cref="NetBufferList"/>.
/// </summary>
/// <remarks>
/// <para>
/// Chimney spec §0, §3, §5: the data of a buffer starts <see cref="DataOffset"/> bytes into the segment chain and is
/// <see cref="DataLength"/> bytes long. Completing bytes moves the start forward (<see cref="Advance"/>), as
/// NdisAdvanceNetBufferDataStart does, so a partially completed send or receive leaves the NB describing what is left.
/// </para>
/// <para>
/// Segments live in a fixed-capacity array allocated once, so a pooled buffer is reused without allocation. Send data
/// is read-only (<see cref="ReadOnlyMemory{T}"/>); receive posts add writable <see cref="Memory{T}"/> segments, and only
/// a buffer whose every segment is writable accepts <see cref="CopyFrom"/>.
/// </para>
/// </remarks>
public sealed class NetBuffer
{
    /// <summary>Segment capacity used when none is given.</summary>
    public const int DefaultSegmentCapacity = 8;

    private readonly ReadOnlyMemory<byte>[] _segments;
    private int _segmentCount;
    private int _totalLength;
    private int _readOnlySegments;
    private int _dataOffset;
    private int _dataLength;

    /// <summary>Creates an empty buffer able to hold up to <paramref name="segmentCapacity"/> segments.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="segmentCapacity"/> is less than 1.</exception>
    public NetBuffer(int segmentCapacity = DefaultSegmentCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentCapacity, 1);
        _segments = new ReadOnlyMemory<byte>[segmentCapacity];
    }

    /// <summary>Most segments this buffer can hold.</summary>
    public int SegmentCapacity => _segments.Length;

    /// <summary>Segments currently in the chain.</summary>
    public int SegmentCount => _segmentCount;

    /// <summary>Bytes in all segments together (the MDL chain length), including those before <see cref="DataOffset"/>.</summary>
    public int TotalLength => _totalLength;

    /// <summary>Bytes of the segment chain before the data start (completed or skipped bytes).</summary>
    public int DataOffset => _dataOffset;

    /// <summary>Bytes of data from the data start.</summary>
    public int DataLength => _dataLength;

    /// <summary>True when every segment was added as writable memory (an empty buffer is writable).</summary>
    public bool IsWritable => _readOnlySegments == 0;

    /// <summary>The segment at <paramref name="index"/>, in chain order.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No such segment.</exception>
    public ReadOnlyMemory<byte> GetSegment(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _segmentCount);
        return _segments[index];
    }

    /// <summary>Appends a read-only segment; the data length grows to the end of the chain.</summary>
    /// <exception cref="InvalidOperationException">The segment capacity is reached.</exception>
    public void AddSegment(ReadOnlyMemory<byte> segment)
    {
        Append(segment);
        _readOnlySegments++;
    }

    /// <summary>Appends a writable segment (receive posts); the data length grows to the end of the chain.</summary>
    /// <exception cref="InvalidOperationException">The segment capacity is reached.</exception>
    public void AddWritableSegment(Memory<byte> segment) => Append(segment);

    /// <summary>Sets the data window explicitly: <paramref name="length"/> bytes starting <paramref name="offset"/> bytes into the chain.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The window is not inside the chain.</exception>
    public void SetData(int offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if ((long)offset + length > _totalLength)
            throw new ArgumentOutOfRangeException(nameof(length), $"Data window {offset}+{length} exceeds the {_totalLength}-byte segment chain.");
        _dataOffset = offset;
        _dataLength = length;
    }

    /// <summary>Moves the data start forward by <paramref name="count"/> completed bytes (NdisAdvanceNetBufferDataStart).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or beyond <see cref="DataLength"/>.</exception>
    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _dataLength);
        _dataOffset += count;
        _dataLength -= count;
    }

    /// <summary>
    /// Copies data starting <paramref name="offset"/> bytes after the data start into <paramref name="destination"/>,
    /// as much as fits and is available; returns the number of bytes copied.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative or beyond <see cref="DataLength"/>.</exception>
    public int CopyTo(int offset, Span<byte> destination)
    {
        int count = ClampCount(offset, destination.Length);
        return CopyChain(_dataOffset + offset, destination[..count]);
    }

    /// <summary>
    /// Copies the <paramref name="destination"/>.Length bytes that end at the data start into <paramref name="destination"/>:
    /// what a completed receive post holds, since the target advanced the start past the bytes it placed (spec §3).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">More bytes asked for than lie before the data start (<see cref="DataOffset"/>).</exception>
    public void CopyBeforeDataStart(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(destination.Length, _dataOffset);
        CopyChain(_dataOffset - destination.Length, destination);
    }

    // Copies destination.Length bytes from chain position `position`; the caller guarantees they lie inside the chain.
    private int CopyChain(int position, Span<byte> destination)
    {
        int count = destination.Length;
        if (count == 0) return 0;
        int copied = 0;
        int segment = FindSegment(ref position);
        while (copied < count)
        {
            ReadOnlySpan<byte> source = _segments[segment].Span[position..];
            int n = Math.Min(source.Length, count - copied);
            source[..n].CopyTo(destination[copied..]);
            copied += n;
            segment++;
            position = 0;
        }
        return copied;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the data starting <paramref name="offset"/> bytes after the data start, as
    /// much as the data window holds; returns the number of bytes written.
    /// </summary>
    /// <exception cref="InvalidOperationException">A segment of this buffer is read-only.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative or beyond <see cref="DataLength"/>.</exception>
    public int CopyFrom(int offset, ReadOnlySpan<byte> source)
    {
        if (!IsWritable) throw new InvalidOperationException("The net buffer holds read-only segments (send data); only receive buffers can be written.");
        int count = ClampCount(offset, source.Length);
        if (count == 0) return 0;
        int position = _dataOffset + offset;
        int copied = 0;
        int segment = FindSegment(ref position);
        while (copied < count)
        {
            // Safe: IsWritable proves the segment was added as Memory<byte>.
            Span<byte> target = MemoryMarshal.AsMemory(_segments[segment]).Span[position..];
            int n = Math.Min(target.Length, count - copied);
            source.Slice(copied, n).CopyTo(target);
            copied += n;
            segment++;
            position = 0;
        }
        return copied;
    }

    /// <summary>Drops every segment reference and empties the buffer for reuse.</summary>
    public void Reset()
    {
        // Clear the references so a pooled buffer does not keep application memory alive.
        Array.Clear(_segments, 0, _segmentCount);
        _segmentCount = 0;
        _totalLength = 0;
        _readOnlySegments = 0;
        _dataOffset = 0;
        _dataLength = 0;
    }

    /// <summary>A short description: data window and segment count.</summary>
    public override string ToString() => $"NB[{_dataOffset}+{_dataLength} of {_totalLength} in {_segmentCount} seg]";

    private void Append(ReadOnlyMemory<byte> segment)
    {
        if (_segmentCount == _segments.Length)
            throw new InvalidOperationException($"The net buffer already holds its capacity of {_segments.Length} segments.");
        if ((long)_totalLength + segment.Length > int.MaxValue)
            throw new InvalidOperationException("The net buffer would exceed 2 GiB.");
        // Keep the data window running to the end of the chain when it already did: building a buffer segment by
        // segment then yields "all bytes are data" without a separate SetData call.
        bool windowAtEnd = _dataOffset + _dataLength == _totalLength;
        _segments[_segmentCount++] = segment;
        _totalLength += segment.Length;
        if (windowAtEnd) _dataLength += segment.Length;
    }

    private int ClampCount(int offset, int requested)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, _dataLength);
        return Math.Min(requested, _dataLength - offset);
    }

    // Returns the index of the segment holding chain position `position` and rewrites `position` relative to it.
    // Empty segments are skipped; the caller guarantees position < _totalLength.
    private int FindSegment(ref int position)
    {
        int i = 0;
        while (position >= _segments[i].Length)
        {
            position -= _segments[i].Length;
            i++;
        }
        return i;
    }
}
