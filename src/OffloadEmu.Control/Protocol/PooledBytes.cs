using System.Buffers;

namespace OffloadEmu.Control.Protocol;

/// <summary>Bytes in an array rented from <see cref="ArrayPool{T}.Shared"/> (frames, indications); <see cref="Release"/>
/// gives the array back once.</summary>
internal sealed class PooledBytes
{
    private byte[]? _array;

    private PooledBytes(byte[] array, int length)
    {
        _array = array;
        Length = length;
    }

    public int Length { get; }

    public static PooledBytes Rent(int length) => new(ArrayPool<byte>.Shared.Rent(Math.Max(length, 1)), length);

    public static PooledBytes CopyOf(ReadOnlySpan<byte> bytes)
    {
        var p = Rent(bytes.Length);
        bytes.CopyTo(p.Span);
        return p;
    }

    public Span<byte> Span => (_array ?? throw new ObjectDisposedException(nameof(PooledBytes))).AsSpan(0, Length);

    public Memory<byte> Memory => (_array ?? throw new ObjectDisposedException(nameof(PooledBytes))).AsMemory(0, Length);

    public void Release()
    {
        var a = Interlocked.Exchange(ref _array, null);
        if (a is not null) ArrayPool<byte>.Shared.Return(a);
    }
}
