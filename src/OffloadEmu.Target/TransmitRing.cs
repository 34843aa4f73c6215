using System.Runtime.InteropServices;
using OffloadEmu.Link;

namespace OffloadEmu.Target;

/// <summary>
/// The transmit descriptor ring between one engine loop (producer) and its transmit thread (consumer), as a NIC's DMA
/// engine has one: the loop puts finished frames in, in order; the transmit thread passes them to the device and marks
/// them sent; the loop takes the sent buffers back (<see cref="Reclaim"/>) and returns them to its pool on its own
/// thread. Lock-free, allocation-free: three counters, each written by one side and published with a release write.
/// </summary>
/// <remarks>Slots between <c>reclaimed</c> and <c>sent</c> hold buffers the device is done with; between <c>sent</c> and
/// <c>tail</c> frames waiting for the device. Full = <c>tail − reclaimed</c> equals the capacity.</remarks>
internal sealed class TransmitRing
{
    private readonly FrameBuffer?[] _slots;
    private readonly int _mask;
    private Counters _c;

    // Producer and consumer counters on cache lines of their own (each side writes one at the rate of frames).
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct Counters
    {
        [FieldOffset(0)] public long Tail;        // producer: frames put in
        [FieldOffset(8)] public long Reclaimed;   // producer: buffers taken back
        [FieldOffset(128)] public long Sent;      // consumer: frames passed to the device
    }

    public TransmitRing(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        int size = 1;
        while (size < capacity) size <<= 1;
        _slots = new FrameBuffer?[size];
        _mask = size - 1;
    }

    public int Capacity => _slots.Length;

    // ---- producer (the engine loop) -------------------------------------------------------------------------------------

    /// <summary>Producer: frames put in and not yet passed to the device.</summary>
    public int Waiting => (int)(_c.Tail - Volatile.Read(ref _c.Sent));

    /// <summary>Producer: every frame put in has been passed to the device (the transmit thread holds none).</summary>
    public bool IsDrained => Volatile.Read(ref _c.Sent) == _c.Tail;

    /// <summary>Producer: puts <paramref name="frame"/> in after the earlier ones; false when the ring is full even after
    /// taking back the sent buffers.</summary>
    public bool TryEnqueue(FrameBuffer frame, FramePool pool)
    {
        long tail = _c.Tail;
        if (tail - _c.Reclaimed == _slots.Length && Reclaim(pool) == 0) return false;
        _slots[tail & _mask] = frame;
        Volatile.Write(ref _c.Tail, tail + 1);
        return true;
    }

    /// <summary>Producer: returns the buffers of frames the transmit thread has passed to the device to
    /// <paramref name="pool"/>. Returns how many.</summary>
    public int Reclaim(FramePool pool)
    {
        long sent = Volatile.Read(ref _c.Sent);
        long r = _c.Reclaimed;
        if (r == sent) return 0;
        int n = (int)(sent - r);
        for (; r < sent; r++)
        {
            int i = (int)(r & _mask);
            pool.Return(_slots[i]!);
            _slots[i] = null;
        }
        _c.Reclaimed = sent;
        return n;
    }

    /// <summary>Once the transmit thread has stopped: returns every buffer still in the ring, sent or not, to
    /// <paramref name="pool"/> (the unsent ones are dropped). Returns how many were unsent.</summary>
    public int ReclaimAll(FramePool pool)
    {
        long tail = _c.Tail;
        int unsent = (int)(tail - Volatile.Read(ref _c.Sent));
        for (long r = _c.Reclaimed; r < tail; r++)
        {
            int i = (int)(r & _mask);
            pool.Return(_slots[i]!);
            _slots[i] = null;
        }
        _c.Reclaimed = tail;
        Volatile.Write(ref _c.Sent, tail);
        return unsent;
    }

    // ---- consumer (the transmit thread) ---------------------------------------------------------------------------------

    /// <summary>Consumer: frames waiting to be passed to the device.</summary>
    public int PendingForConsumer => (int)(Volatile.Read(ref _c.Tail) - _c.Sent);

    /// <summary>Consumer: a frame is waiting.</summary>
    public bool HasPending => Volatile.Read(ref _c.Tail) != _c.Sent;

    /// <summary>Consumer: the oldest waiting frames, at most <paramref name="max"/>, as one contiguous run of slots (a run
    /// that reaches the end of the array stops there; the rest comes next time). Empty when none waits.</summary>
    public ReadOnlySpan<FrameBuffer> PeekPending(int max)
    {
        long sent = _c.Sent;
        long available = Volatile.Read(ref _c.Tail) - sent;   // acquire: the slots below tail are written
        if (available == 0) return default;
        int start = (int)(sent & _mask);
        int n = (int)Math.Min(Math.Min(available, max), _slots.Length - start);
        return _slots.AsSpan(start, n)!;
    }

    /// <summary>Consumer: the <paramref name="count"/> oldest waiting frames were passed to the device (or dropped); the
    /// producer may take their buffers back.</summary>
    public void MarkSent(int count) => Volatile.Write(ref _c.Sent, _c.Sent + count);
}
