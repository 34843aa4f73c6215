using System.Buffers;

namespace OffloadEmu.Control.Protocol;

/// <summary>
/// The bytes queued for one socket: whole messages encoded straight into arrays rented from
/// <see cref="ArrayPool{T}.Shared"/> (<see cref="IBufferWriter{T}"/>), taken off all at once as the segments of one
/// gathered <c>sendmsg</c>. Not thread-safe: <see cref="MessageConnection"/> calls it under its write lock. A taken
/// batch belongs to the one sender, which gives its arrays back with <see cref="Release"/> once they are sent.
/// </summary>
internal sealed class OutputQueue : IBufferWriter<byte>
{
    /// <summary>Size of a fresh array (a larger request gets a larger one).</summary>
    public const int ChunkSize = 16 * 1024;

    private List<ArraySegment<byte>> _segments = new(16);
    private byte[]? _tail;      // the array being written; its bytes [0, _tailEnd) are queued
    private int _tailEnd;

    /// <summary>Bytes queued and not yet taken.</summary>
    public long Length { get; private set; }

    /// <summary>Where the next message starts, to <see cref="Rewind"/> to if it cannot be encoded whole.</summary>
    public readonly record struct Position(int Segments, byte[]? Tail, int TailEnd, long Length);

    public Position Mark() => new(_segments.Count, _tail, _tailEnd, Length);

    /// <summary>Drops what was written since <paramref name="mark"/> (an encoder threw mid-message: a partial frame
    /// must never reach the socket).</summary>
    public void Rewind(Position mark)
    {
        for (int i = _segments.Count - 1; i >= mark.Segments; i--)
        {
            var array = _segments[i].Array!;
            if (!ReferenceEquals(array, mark.Tail)) ArrayPool<byte>.Shared.Return(array);
            _segments.RemoveAt(i);
        }
        if (_tail is not null && !ReferenceEquals(_tail, mark.Tail)) ArrayPool<byte>.Shared.Return(_tail);
        _tail = mark.Tail;
        _tailEnd = mark.TailEnd;
        Length = mark.Length;
    }

    public void Advance(int count)
    {
        if (_tail is null || count < 0 || _tailEnd + count > _tail.Length) throw new InvalidOperationException("Advance past the buffer.");
        _tailEnd += count;
        Length += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => GetTail(sizeHint);

    public Span<byte> GetSpan(int sizeHint = 0) => GetTail(sizeHint);

    private ArraySegment<byte> GetTail(int sizeHint)
    {
        if (sizeHint < 1) sizeHint = 1;
        if (_tail is null || _tail.Length - _tailEnd < sizeHint)
        {
            CloseTail();
            _tail = ArrayPool<byte>.Shared.Rent(Math.Max(sizeHint, ChunkSize));
            _tailEnd = 0;
        }
        return new ArraySegment<byte>(_tail, _tailEnd, _tail.Length - _tailEnd);
    }

    private void CloseTail()
    {
        if (_tail is null) return;
        if (_tailEnd > 0) _segments.Add(new ArraySegment<byte>(_tail, 0, _tailEnd));
        else ArrayPool<byte>.Shared.Return(_tail);
        _tail = null;
        _tailEnd = 0;
    }

    /// <summary>Takes every queued byte (the array being written included) as the sender's batch; <paramref name="spare"/>
    /// (empty) becomes the new list.</summary>
    public List<ArraySegment<byte>> Take(List<ArraySegment<byte>> spare)
    {
        CloseTail();
        var taken = _segments;
        _segments = spare;
        Length = 0;
        return taken;
    }

    /// <summary>Gives a sent batch's arrays back to the pool and clears the list (any thread: the batch is the
    /// sender's alone).</summary>
    public static void Release(List<ArraySegment<byte>> sent)
    {
        foreach (var s in sent) ArrayPool<byte>.Shared.Return(s.Array!);
        sent.Clear();
    }
}
