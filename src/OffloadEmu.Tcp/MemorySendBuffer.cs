using System.Buffers;

namespace OffloadEmu.Tcp;

/// <summary>An <see cref="ITcpSendBuffer"/> over caller-owned memory: one <see cref="ReadOnlyMemory{T}"/> or a chain of
/// them as a <see cref="ReadOnlySequence{T}"/> (the MDL-chain shape).</summary>
public sealed class MemorySendBuffer : ITcpSendBuffer
{
    private readonly ReadOnlySequence<byte> _data;
    private readonly int _length;

    /// <summary>Wraps one contiguous region.</summary>
    public MemorySendBuffer(ReadOnlyMemory<byte> data) : this(new ReadOnlySequence<byte>(data)) { }

    /// <summary>Wraps a chain of regions.</summary>
    public MemorySendBuffer(ReadOnlySequence<byte> data)
    {
        if (data.Length > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(data));
        _data = data;
        _length = (int)data.Length;
    }

    /// <inheritdoc/>
    public int Length => _length;

    /// <summary>Any state the owner wants to attach (a request id, a pool slot).</summary>
    public object? Tag { get; set; }

    /// <inheritdoc/>
    public void CopyTo(int offset, Span<byte> destination)
    {
        if (_data.IsSingleSegment)
        {
            _data.FirstSpan.Slice(offset, destination.Length).CopyTo(destination);
            return;
        }
        _data.Slice(offset, destination.Length).CopyTo(destination);
    }
}
