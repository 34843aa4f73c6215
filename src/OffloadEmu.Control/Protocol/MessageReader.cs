using System.Buffers;
using System.Text;

namespace OffloadEmu.Control.Protocol;

/// <summary>Reads message fields little-endian from a payload; every shortfall or bad value throws
/// <see cref="ControlProtocolException"/> (<see cref="ProtocolError.Malformed"/>).</summary>
internal ref struct MessageReader
{
    private SequenceReader<byte> _reader;

    public MessageReader(ReadOnlySequence<byte> payload) => _reader = new SequenceReader<byte>(payload);

    public long Remaining => _reader.Remaining;

    public static ControlProtocolException Malformed(string what) => new(ProtocolError.Malformed, what);

    public byte U8() => _reader.TryRead(out byte v) ? v : throw Malformed("truncated payload");

    public bool Bool() => U8() switch
    {
        0 => false,
        1 => true,
        var b => throw Malformed($"boolean field {b}"),
    };

    public ushort U16() => _reader.TryReadLittleEndian(out short v) ? (ushort)v : throw Malformed("truncated payload");

    public uint U32() => _reader.TryReadLittleEndian(out int v) ? (uint)v : throw Malformed("truncated payload");

    public int I32() => _reader.TryReadLittleEndian(out int v) ? v : throw Malformed("truncated payload");

    public ulong U64() => _reader.TryReadLittleEndian(out long v) ? (ulong)v : throw Malformed("truncated payload");

    /// <summary>A u32 count checked against <paramref name="max"/> and against the bytes left (each item needs at least
    /// <paramref name="minItemSize"/> bytes), so a forged count cannot make the decoder allocate.</summary>
    public int Count(int max, int minItemSize)
    {
        uint n = U32();
        if (n > (uint)max) throw Malformed($"count {n} above {max}");
        if (minItemSize > 0 && (long)n * minItemSize > _reader.Remaining) throw Malformed($"count {n} longer than the payload");
        return (int)n;
    }

    /// <summary>Copies <paramref name="destination"/>.Length raw bytes.</summary>
    public void Raw(scoped Span<byte> destination)
    {
        if (!_reader.TryCopyTo(destination)) throw Malformed("truncated payload");
        _reader.Advance(destination.Length);
    }

    /// <summary>Skips <paramref name="count"/> bytes.</summary>
    public void Skip(int count)
    {
        if (count > _reader.Remaining) throw Malformed("truncated payload");
        _reader.Advance(count);
    }

    /// <summary>u32 length + bytes, as a new array (small fields only).</summary>
    public byte[] Blob(int max)
    {
        int n = Count(max, 1);
        var bytes = new byte[n];
        Raw(bytes);
        return bytes;
    }

    /// <summary>u32 length, then returns the bytes as a slice of the payload without copying.</summary>
    public ReadOnlySequence<byte> BlobSlice(int max)
    {
        int n = Count(max, 1);
        var slice = _reader.UnreadSequence.Slice(0, n);
        _reader.Advance(n);
        return slice;
    }

    /// <summary>u32 length + bytes, copied into an array rented from the shared pool.</summary>
    public PooledBytes Pooled(int max)
    {
        int n = Count(max, 1);
        var bytes = PooledBytes.Rent(n);
        Raw(bytes.Span);
        return bytes;
    }

    public string String(int maxBytes)
    {
        int n = U16();
        if (n > maxBytes) throw Malformed($"string of {n} bytes above {maxBytes}");
        if (n > _reader.Remaining) throw Malformed("truncated payload");
        Span<byte> buffer = n <= 256 ? stackalloc byte[n] : new byte[n];
        Raw(buffer);
        try
        {
            return new UTF8Encoding(false, true).GetString(buffer);
        }
        catch (DecoderFallbackException)
        {
            throw Malformed("string is not UTF-8");
        }
    }

    /// <summary>Throws unless the whole payload was read.</summary>
    public void End()
    {
        if (_reader.Remaining != 0) throw Malformed($"{_reader.Remaining} trailing bytes");
    }
}
