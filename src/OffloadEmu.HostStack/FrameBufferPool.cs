using System.Buffers;

namespace OffloadEmu.HostStack;

/// <summary>
/// Fixed-size arrays for frames coming up the non-offload path (copied on the completion thread, released by the
/// engine). Unlike the shared array pool it keeps as many as a burst needed, so steady state allocates nothing;
/// larger frames fall back to the shared pool.
/// </summary>
internal sealed class FrameBufferPool(int bufferSize = FrameBufferPool.DefaultBufferSize, int maxPooled = 8192)
{
    public const int DefaultBufferSize = 2048;

    private readonly Lock _lock = new();
    private readonly Stack<byte[]> _free = new();

    public byte[] Rent(int length)
    {
        if (length > bufferSize) return ArrayPool<byte>.Shared.Rent(length);
        lock (_lock)
        {
            if (_free.TryPop(out var buffer)) return buffer;
        }
        return new byte[bufferSize];
    }

    public void Return(byte[] buffer)
    {
        if (buffer.Length != bufferSize)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }
        lock (_lock)
        {
            if (_free.Count < maxPooled) _free.Push(buffer);
        }
    }
}
