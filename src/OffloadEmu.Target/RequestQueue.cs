namespace OffloadEmu.Target;

/// <summary>
/// Multi-producer, single-consumer FIFO of <see cref="TargetRequest"/> structs under one short lock; grows when full so a
/// request is never refused (the chimney contract has no "busy" answer for I/O), and allocates nothing per item once grown.
/// </summary>
internal sealed class RequestQueue
{
    private readonly Lock _lock = new();
    private TargetRequest[] _ring = new TargetRequest[256];
    private int _head;
    private int _count;

    public int Count
    {
        get
        {
            lock (_lock) return _count;
        }
    }

    public void Enqueue(in TargetRequest request)
    {
        lock (_lock)
        {
            if (_count == _ring.Length)
            {
                var larger = new TargetRequest[_ring.Length * 2];
                for (int i = 0; i < _count; i++) larger[i] = _ring[(_head + i) % _ring.Length];
                _ring = larger;
                _head = 0;
            }
            _ring[(_head + _count) % _ring.Length] = request;
            _count++;
        }
    }

    public bool TryDequeue(out TargetRequest request)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                request = default;
                return false;
            }
            request = _ring[_head];
            _ring[_head] = default;
            _head = (_head + 1) % _ring.Length;
            _count--;
            return true;
        }
    }
}
