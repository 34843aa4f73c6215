namespace OffloadEmu.Link.Capture;

/// <summary>
/// Shared plumbing of the capture writers: a private byte buffer in front of the stream (so a frame
/// costs a memcpy, not a syscall), one lock, and the byte count used for rotation.
/// </summary>
/// <remarks>
/// If the stream throws, the exception propagates and the file is left with a partial record; the
/// writer should then be disposed (the capture decorator does exactly that and counts the failure).
/// </remarks>
public abstract class BufferedCaptureWriter : ICaptureWriter
{
    // Headers and options of one record are assembled in place and are far smaller than this.
    private const int MaxReserve = 256;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly byte[] _buffer;
    private int _used;
    private long _bytesWritten;
    private bool _disposed;

    /// <summary>Held while a record is written, so records from two threads never interleave.</summary>
    private protected readonly Lock Gate = new();

    /// <summary>Creates the writer over <paramref name="stream"/>.</summary>
    private protected BufferedCaptureWriter(Stream stream, bool leaveOpen, int bufferSize)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1024);
        if (!stream.CanWrite) throw new ArgumentException("The capture stream must be writable.", nameof(stream));
        _stream = stream;
        _leaveOpen = leaveOpen;
        _buffer = new byte[bufferSize];
    }

    /// <inheritdoc/>
    public long BytesWritten => Volatile.Read(ref _bytesWritten);

    /// <inheritdoc/>
    public abstract int AddInterface(string name);

    /// <inheritdoc/>
    public abstract void WriteFrame(int interfaceIndex, long timestampNs, ReadOnlySpan<byte> frame, CaptureDirection direction);

    /// <summary>Returns <paramref name="length"/> bytes of buffer space (at most 256) for the caller to fill.</summary>
    private protected Span<byte> Reserve(int length)
    {
        ThrowIfDisposed();
        if (length > MaxReserve) throw new ArgumentOutOfRangeException(nameof(length));
        if (_buffer.Length - _used < length) FlushBuffer();
        var span = _buffer.AsSpan(_used, length);
        span.Clear();
        _used += length;
        Volatile.Write(ref _bytesWritten, _bytesWritten + length);
        return span;
    }

    /// <summary>Appends <paramref name="data"/>; large data bypasses the buffer.</summary>
    private protected void Append(ReadOnlySpan<byte> data)
    {
        ThrowIfDisposed();
        if (_buffer.Length - _used < data.Length)
        {
            FlushBuffer();
            if (data.Length > _buffer.Length)
            {
                _stream.Write(data);
                Volatile.Write(ref _bytesWritten, _bytesWritten + data.Length);
                return;
            }
        }
        data.CopyTo(_buffer.AsSpan(_used));
        _used += data.Length;
        Volatile.Write(ref _bytesWritten, _bytesWritten + data.Length);
    }

    /// <summary>Pads with zero bytes up to a multiple of four (pcapng alignment).</summary>
    private protected void Pad4(int written)
    {
        int pad = (4 - (written & 3)) & 3;
        if (pad != 0) Reserve(pad);
    }

    /// <inheritdoc/>
    public void Flush()
    {
        lock (Gate)
        {
            ThrowIfDisposed();
            FlushBuffer();
            _stream.Flush();
        }
    }

    private void FlushBuffer()
    {
        if (_used == 0) return;
        // Reset before writing: if the stream throws, the buffered bytes are lost rather than repeated.
        int used = _used;
        _used = 0;
        _stream.Write(_buffer, 0, used);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Flushes what is buffered (best effort) and closes the stream unless told to leave it open.</summary>
    public void Dispose()
    {
        lock (Gate)
        {
            if (_disposed) return;
            try
            {
                FlushBuffer();
                _stream.Flush();
            }
            finally
            {
                _disposed = true;
                if (!_leaveOpen) _stream.Dispose();
            }
        }
        GC.SuppressFinalize(this);
    }
}
