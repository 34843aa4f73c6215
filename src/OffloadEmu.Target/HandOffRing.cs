using OffloadEmu.Link;

namespace OffloadEmu.Target;

/// <summary>
/// A bounded single-producer, single-consumer ring of frames from one engine loop to another (a frame read on one
/// link queue for a connection another loop owns). Lock-free: the producer publishes with a release write of its tail,
/// the consumer with a release write of its head. Full: the producer drops and counts the frame.
/// </summary>
internal sealed class HandOffRing
{
    private readonly FrameBuffer?[] _slots;
    private readonly int _mask;
    private long _head;   // consumer
    private long _tail;   // producer

    public HandOffRing(int capacity)
    {
        int size = 1;
        while (size < capacity) size <<= 1;
        _slots = new FrameBuffer?[size];
        _mask = size - 1;
    }

    /// <summary>Frames waiting (a snapshot).</summary>
    public int Count => (int)(Volatile.Read(ref _tail) - Volatile.Read(ref _head));

    /// <summary>Producer only. False when full.</summary>
    public bool TryEnqueue(FrameBuffer frame)
    {
        long tail = _tail;
        if (tail - Volatile.Read(ref _head) == _slots.Length) return false;
        _slots[tail & _mask] = frame;
        Volatile.Write(ref _tail, tail + 1);
        return true;
    }

    /// <summary>Consumer only.</summary>
    public bool TryDequeue(out FrameBuffer frame)
    {
        long head = _head;
        if (head == Volatile.Read(ref _tail))
        {
            frame = null!;
            return false;
        }
        int index = (int)(head & _mask);
        frame = _slots[index]!;
        _slots[index] = null;
        Volatile.Write(ref _head, head + 1);
        return true;
    }
}
