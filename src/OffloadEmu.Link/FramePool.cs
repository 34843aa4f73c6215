using System.Collections.Concurrent;

namespace OffloadEmu.Link;

/// <summary>
/// A bounded pool of <see cref="FrameBuffer"/>s of one size. Rent never allocates once the pool has
/// warmed up to its working set; when the pool is empty it allocates (and counts it) rather than block.
/// </summary>
public sealed class FramePool
{
    private readonly ConcurrentBag<FrameBuffer> _free = new();
    private readonly int _maxRetained;
    private long _allocated;

    /// <summary>Default buffer size: a 9000-byte jumbo frame plus Ethernet, VLAN and a virtio-net header, rounded up.</summary>
    public const int DefaultBufferSize = 9216;

    /// <summary>Buffer size for a device with <see cref="ChecksumCapabilities.SegmentationOffload"/>: the largest TCP/IPv6
    /// super-frame (a 40-byte IPv6 header and a 65,535-byte payload) behind Ethernet and an 802.1Q tag, rounded up.</summary>
    public const int SuperFrameBufferSize = 65_664;

    /// <summary>A shared pool of <see cref="DefaultBufferSize"/> buffers.</summary>
    public static FramePool Shared { get; } = new(DefaultBufferSize, 8192);

    /// <summary>Creates a pool of buffers of <paramref name="bufferSize"/> bytes retaining at most <paramref name="maxRetained"/>.</summary>
    public FramePool(int bufferSize = DefaultBufferSize, int maxRetained = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 64);
        BufferSize = bufferSize;
        _maxRetained = maxRetained;
    }

    /// <summary>Size of every buffer.</summary>
    public int BufferSize { get; }

    /// <summary>Buffers this pool has ever created.</summary>
    public long Allocated => Interlocked.Read(ref _allocated);

    /// <summary>Takes a buffer (Length 0).</summary>
    public FrameBuffer Rent()
    {
        if (TryRent(out var b)) return b;
        Interlocked.Increment(ref _allocated);
        return new FrameBuffer(BufferSize) { Pool = this };
    }

    /// <summary>Takes a free buffer without ever allocating: false when none is free (a receive path that must not grow
    /// under a burst drops the frame instead, as a NIC out of receive descriptors does).</summary>
    public bool TryRent(out FrameBuffer buffer)
    {
        if (!_free.TryTake(out var b))
        {
            buffer = null!;
            return false;
        }
        b.Length = 0;
        b.TimestampNs = 0;
        b.Offload = default;
        buffer = b;
        return true;
    }

    /// <summary>Creates buffers until <paramref name="count"/> are free (bounded by the retention limit), so a later
    /// burst finds them instead of allocating.</summary>
    public void Preallocate(int count)
    {
        int target = Math.Min(count, _maxRetained);
        while (_free.Count < target)
        {
            Interlocked.Increment(ref _allocated);
            _free.Add(new FrameBuffer(BufferSize) { Pool = this });
        }
    }

    /// <summary>Gives a buffer back. Returning a buffer twice or to the wrong pool is a bug and throws.</summary>
    public void Return(FrameBuffer buffer)
    {
        if (!ReferenceEquals(buffer.Pool, this)) throw new InvalidOperationException("Frame buffer returned to a pool it does not belong to.");
        if (_free.Count < _maxRetained) _free.Add(buffer);
    }
}
