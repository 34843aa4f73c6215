using OffloadEmu.Link;

namespace OffloadEmu.Target;

/// <summary>A bounded FIFO of pooled frame buffers between a producer thread (device reader, host sends) and the engine.</summary>
internal sealed class FrameRing
{
    private readonly Lock _lock = new();
    private readonly FrameBuffer?[] _ring;
    private int _head;
    private int _count;

    public FrameRing(int capacity) => _ring = new FrameBuffer?[capacity];

    /// <summary>Frames waiting.</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _count;
        }
    }

    /// <summary>False when full: the caller drops (and counts) the frame.</summary>
    public bool TryEnqueue(FrameBuffer frame)
    {
        lock (_lock)
        {
            if (_count == _ring.Length) return false;
            _ring[(_head + _count) % _ring.Length] = frame;
            _count++;
            return true;
        }
    }

    public bool TryDequeue(out FrameBuffer frame)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                frame = null!;
                return false;
            }
            frame = _ring[_head]!;
            _ring[_head] = null;
            _head = (_head + 1) % _ring.Length;
            _count--;
            return true;
        }
    }
}
