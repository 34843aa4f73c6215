using System.Buffers;

namespace OffloadEmu.Control.Protocol;

/// <summary>An array rented from <see cref="ArrayPool{T}.Shared"/> for the bytes of one decoded NBL; given back once.</summary>
internal sealed class RentedBuffer(byte[] array)
{
    private byte[]? _array = array;

    public byte[]? Array => _array;

    public void Release()
    {
        var a = Interlocked.Exchange(ref _array, null);
        if (a is not null) ArrayPool<byte>.Shared.Return(a);
    }
}
