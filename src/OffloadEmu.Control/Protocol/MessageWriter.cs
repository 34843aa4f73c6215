using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace OffloadEmu.Control.Protocol;

/// <summary>
/// Writes message fields little-endian. Two modes: counting (no output; <see cref="Length"/> grows) and writing into an
/// <see cref="IBufferWriter{T}"/> such as a <see cref="System.IO.Pipelines.PipeWriter"/>. A message is encoded twice,
/// first counted so the header carries its length, then written straight into the pipe: payload bytes (send data,
/// frames) go from the caller's buffers to the pipe in one copy, with no staging buffer.
/// </summary>
internal ref struct MessageWriter
{
    private readonly IBufferWriter<byte>? _output;
    private Span<byte> _span;
    private int _buffered;

    /// <summary>A counting writer.</summary>
    public MessageWriter()
    {
        _output = null;
        _span = default;
        _buffered = 0;
        Length = 0;
    }

    /// <summary>A writer into <paramref name="output"/>.</summary>
    public MessageWriter(IBufferWriter<byte> output)
    {
        _output = output;
        _span = default;
        _buffered = 0;
        Length = 0;
    }

    /// <summary>Bytes written (or counted) so far.</summary>
    public long Length { get; private set; }

    /// <summary>Commits what is buffered; call once at the end.</summary>
    public void Flush()
    {
        if (_output is not null && _buffered > 0)
        {
            _output.Advance(_buffered);
            _buffered = 0;
            _span = default;
        }
    }

    private Span<byte> Take(int size)
    {
        Length += size;
        if (_output is null) return default;
        if (_span.Length - _buffered < size)
        {
            Flush();
            _span = _output.GetSpan(Math.Max(size, 4096));
        }
        var s = _span.Slice(_buffered, size);
        _buffered += size;
        return s;
    }

    public void U8(byte v)
    {
        var s = Take(1);
        if (_output is not null) s[0] = v;
    }

    public void Bool(bool v) => U8(v ? (byte)1 : (byte)0);

    public void U16(ushort v)
    {
        var s = Take(2);
        if (_output is not null) BinaryPrimitives.WriteUInt16LittleEndian(s, v);
    }

    public void U32(uint v)
    {
        var s = Take(4);
        if (_output is not null) BinaryPrimitives.WriteUInt32LittleEndian(s, v);
    }

    public void I32(int v)
    {
        var s = Take(4);
        if (_output is not null) BinaryPrimitives.WriteInt32LittleEndian(s, v);
    }

    public void U64(ulong v)
    {
        var s = Take(8);
        if (_output is not null) BinaryPrimitives.WriteUInt64LittleEndian(s, v);
    }

    /// <summary>Raw bytes, no length prefix.</summary>
    public void Raw(scoped ReadOnlySpan<byte> bytes)
    {
        if (_output is null)
        {
            Length += bytes.Length;
            return;
        }
        while (!bytes.IsEmpty)
        {
            if (_span.Length - _buffered == 0)
            {
                Flush();
                _span = _output.GetSpan(Math.Min(bytes.Length, 65_536));
            }
            int n = Math.Min(bytes.Length, _span.Length - _buffered);
            bytes[..n].CopyTo(_span[_buffered..]);
            _buffered += n;
            Length += n;
            bytes = bytes[n..];
        }
    }

    /// <summary>u32 length + bytes.</summary>
    public void Blob(scoped ReadOnlySpan<byte> bytes)
    {
        U32((uint)bytes.Length);
        Raw(bytes);
    }

    /// <summary>u16 length + UTF-8.</summary>
    public void String(string value)
    {
        int n = Encoding.UTF8.GetByteCount(value);
        U16((ushort)n);
        var s = Take(n);
        if (_output is not null) Encoding.UTF8.GetBytes(value, s);
    }
}
