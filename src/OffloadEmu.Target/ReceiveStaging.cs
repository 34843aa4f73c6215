using System.Buffers;

namespace OffloadEmu.Target;

/// <summary>
/// In-order received bytes a connection holds for its next receive indications (the machine's held bytes,
/// <see cref="OffloadEmu.Tcp.ITcpReceiveConsumer.Hold"/>): copied once from the frame into pooled chunks of the
/// indication size, each chunk later handed to the host as an indication's own buffer, so these bytes skip the receive
/// ring (frame → chunk → host instead of frame → ring → indication → host). Oldest first; engine thread only.
/// </summary>
/// <remarks>Bounded by the receive window (the machine offers only in-window bytes and counts held ones as buffered);
/// chunks come from <see cref="ArrayPool{T}.Shared"/> and go back to it (directly, or through the indication buffer that
/// adopted them), so holding allocates nothing once the pool is warm.</remarks>
internal sealed class ReceiveStaging
{
    private byte[]?[] _chunks = new byte[]?[4];
    private int[] _ends = new int[4];
    private int _head;
    private int _count;
    // Bytes of the head chunk already taken (by receive posts).
    private int _headStart;

    /// <summary>Bytes held.</summary>
    public int Bytes { get; private set; }

    /// <summary>The first chunk size, and the least it shrinks to.</summary>
    public const int MinChunk = 16 * 1024;

    // The size of the next chunk: it doubles (up to the indication size) each time a chunk fills, and halves when an
    // indication takes a chunk holding less than MinChunk (what a small message needs). Bulk reaches whole indications after a few chunks; a
    // connection that receives small messages keeps small arrays (an indication the host holds keeps its array).
    private int _chunkSize;

    /// <summary>Copies all of <paramref name="data"/> after the bytes held, in chunks of at most
    /// <paramref name="maxChunk"/> bytes (the indication size).</summary>
    public void Append(ReadOnlySpan<byte> data, int maxChunk)
    {
        if (_chunkSize == 0 || _chunkSize > maxChunk) _chunkSize = Math.Min(MinChunk, maxChunk);
        while (!data.IsEmpty)
        {
            int tail = _count == 0 ? -1 : Index(_count - 1);
            if (tail < 0 || _ends[tail] >= Math.Min(maxChunk, _chunks[tail]!.Length))
            {
                if (tail >= 0) _chunkSize = (int)Math.Min(maxChunk, 2L * _chunkSize);
                AddChunk(ArrayPool<byte>.Shared.Rent(_chunkSize));
                tail = Index(_count - 1);
            }
            var chunk = _chunks[tail]!;
            int end = _ends[tail];
            int n = Math.Min(data.Length, Math.Min(maxChunk, chunk.Length) - end);
            data[..n].CopyTo(chunk.AsSpan(end));
            _ends[tail] = end + n;
            Bytes += n;
            data = data[n..];
        }
    }

    /// <summary>The oldest held bytes that lie together (the rest of the head chunk).</summary>
    public ReadOnlySpan<byte> Head => _count == 0 ? default : _chunks[_head].AsSpan(_headStart, _ends[_head] - _headStart);

    /// <summary>Room left in the head chunk when it is the only one (bytes the next indication may still take), up to
    /// <paramref name="maxChunk"/> bytes in all.</summary>
    public Span<byte> HeadRoom(int maxChunk)
        => _count != 1 ? default : _chunks[_head].AsSpan(_ends[_head], Math.Max(0, Math.Min(maxChunk, _chunks[_head]!.Length) - _ends[_head]));

    /// <summary>Drops <paramref name="count"/> bytes of the head chunk (taken by a post); an emptied chunk goes back.</summary>
    public void ConsumeHead(int count)
    {
        _headStart += count;
        Bytes -= count;
        if (_headStart >= _ends[_head]) ArrayPool<byte>.Shared.Return(RemoveHead());
    }

    /// <summary>Removes the head chunk for an indication, with <paramref name="extra"/> more bytes written into its room
    /// (<see cref="HeadRoom"/>) that are not held (copied from the ring): the caller owns the array from now on.</summary>
    public byte[] TakeHead(int extra, out int start, out int length)
    {
        start = _headStart;
        length = _ends[_head] - _headStart + extra;
        Bytes -= _ends[_head] - _headStart;
        if (_count == 1 && _ends[_head] < MinChunk) _chunkSize = Math.Max(MinChunk, _chunkSize / 2);
        return RemoveHead();
    }

    /// <summary>Copies every held byte, oldest first, into <paramref name="destination"/> (at least <see cref="Bytes"/>
    /// long) without removing them.</summary>
    public void CopyTo(Span<byte> destination)
    {
        int at = 0;
        for (int i = 0; i < _count; i++)
        {
            int index = Index(i);
            int start = i == 0 ? _headStart : 0;
            var run = _chunks[index].AsSpan(start, _ends[index] - start);
            run.CopyTo(destination[at..]);
            at += run.Length;
        }
    }

    /// <summary>Hands every chunk back to the pool (the bytes were copied elsewhere, or are dropped with the connection).</summary>
    public void Clear()
    {
        while (_count > 0) ArrayPool<byte>.Shared.Return(RemoveHead());
        Bytes = 0;
    }

    private int Index(int i)
    {
        int index = _head + i;
        return index >= _chunks.Length ? index - _chunks.Length : index;
    }

    private void AddChunk(byte[] chunk)
    {
        if (_count == _chunks.Length)
        {
            // Grows with the window's worth of chunks (rare: a connection's first large burst).
            var chunks = new byte[]?[_count * 2];
            var ends = new int[_count * 2];
            for (int i = 0; i < _count; i++)
            {
                chunks[i] = _chunks[Index(i)];
                ends[i] = _ends[Index(i)];
            }
            _chunks = chunks;
            _ends = ends;
            _head = 0;
        }
        int tail = Index(_count);
        _chunks[tail] = chunk;
        _ends[tail] = 0;
        _count++;
    }

    private byte[] RemoveHead()
    {
        var chunk = _chunks[_head]!;
        _chunks[_head] = null;
        _ends[_head] = 0;
        _head = _head + 1 == _chunks.Length ? 0 : _head + 1;
        _count--;
        _headStart = 0;
        return chunk;
    }
}
