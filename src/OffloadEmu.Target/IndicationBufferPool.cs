namespace OffloadEmu.Target;

/// <summary>Thread-safe pool of <see cref="IndicationBuffer"/>s: rented by the engine, returned by ReceiveReturn on any thread.</summary>
internal sealed class IndicationBufferPool
{
    private readonly Stack<IndicationBuffer> _free = new();
    private readonly Lock _lock = new();
    private long _outstanding;

    /// <summary>Buffers rented and not yet returned (the host holds some of them).</summary>
    public long Outstanding => Interlocked.Read(ref _outstanding);

    public IndicationBuffer Rent()
    {
        Interlocked.Increment(ref _outstanding);
        lock (_lock)
        {
            if (_free.TryPop(out var buffer)) return buffer;
        }
        return new IndicationBuffer();
    }

    public void Return(IndicationBuffer buffer)
    {
        buffer.Release();
        Interlocked.Decrement(ref _outstanding);
        lock (_lock)
        {
            if (_free.Count < 4096) _free.Push(buffer);
        }
    }
}
