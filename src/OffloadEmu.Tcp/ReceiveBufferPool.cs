using System.Numerics;

namespace OffloadEmu.Tcp;

/// <summary>
/// The receive buffers of the TCP machines that share it: a machine takes one when bytes must be buffered (the consumer
/// refused them, or they arrived out of order) and gives it back as soon as it holds nothing again, so an idle
/// connection holds no data buffer at all (issue 7, "Scale"). Thread-safe; one pool is shared by the whole process
/// (<see cref="Shared"/>) unless a <see cref="TcpConfig.ReceiveBufferPool"/> says otherwise.
/// </summary>
/// <remarks>
/// <para>Buffers come in power-of-two size classes from 1 KiB to 1 GiB; a machine whose window is not a power of two
/// takes the next class up and uses only its window's worth (the advertised window is computed from the window size,
/// never from the array).</para>
/// <para>The pool never refuses. The window a machine advertised is a promise of space: when no free buffer of the class
/// is retained the pool allocates a new one (counted in <see cref="Allocations"/>), so accepted data is never dropped and
/// the memory held for data stays bounded by the windows advertised, as it was when every connection owned its ring.
/// What the pool keeps while nobody uses it is bounded by <see cref="MaxRetainedBytes"/>: a buffer given back when the
/// retained bytes would pass it goes to the garbage collector (counted in <see cref="Discards"/>).</para>
/// <para>Buffers are not zeroed (only bytes written and committed are ever read, docs/tcp.md).</para>
/// </remarks>
public sealed class ReceiveBufferPool
{
    /// <summary>The smallest size class (smaller windows take it).</summary>
    public const int MinClassSize = 1 << MinShift;

    /// <summary>The largest size class (RFC 7323's largest window); larger requests are allocated and never retained.</summary>
    public const int MaxClassSize = 1 << MaxShift;

    /// <summary>What <see cref="Shared"/> keeps while nobody uses it.</summary>
    public const long DefaultMaxRetainedBytes = 16L << 20;

    private const int MinShift = 10;
    private const int MaxShift = 30;

    private readonly SizeClass[] _classes = new SizeClass[MaxShift - MinShift + 1];
    private long _retainedBytes;
    private long _outstandingBytes;
    private long _outstandingBuffers;
    private long _takes;
    private long _returns;
    private long _allocations;
    private long _discards;

    /// <summary>A pool that keeps at most <paramref name="maxRetainedBytes"/> of free buffers (0: none, every take
    /// allocates).</summary>
    public ReceiveBufferPool(long maxRetainedBytes = DefaultMaxRetainedBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRetainedBytes);
        MaxRetainedBytes = maxRetainedBytes;
        for (int i = 0; i < _classes.Length; i++) _classes[i] = new SizeClass();
    }

    /// <summary>The process-wide pool (16 MiB retained at most).</summary>
    public static ReceiveBufferPool Shared { get; } = new();

    /// <summary>Bytes of free buffers the pool keeps at most.</summary>
    public long MaxRetainedBytes { get; }

    /// <summary>Bytes of free buffers kept now.</summary>
    public long RetainedBytes => Volatile.Read(ref _retainedBytes);

    /// <summary>Bytes of buffers taken and not given back (held by machines that buffer data now).</summary>
    public long OutstandingBytes => Volatile.Read(ref _outstandingBytes);

    /// <summary>Buffers taken and not given back.</summary>
    public long OutstandingBuffers => Volatile.Read(ref _outstandingBuffers);

    /// <summary>Buffers taken since the pool was made.</summary>
    public long Takes => Volatile.Read(ref _takes);

    /// <summary>Buffers given back since the pool was made.</summary>
    public long Returns => Volatile.Read(ref _returns);

    /// <summary>Takes that found no free buffer of their class and allocated one (the pool grew).</summary>
    public long Allocations => Volatile.Read(ref _allocations);

    /// <summary>Buffers given back that the pool did not keep (over <see cref="MaxRetainedBytes"/>, or not of a class).</summary>
    public long Discards => Volatile.Read(ref _discards);

    /// <summary>The length of the array a take of <paramref name="capacity"/> bytes gets.</summary>
    public static int ClassSize(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        if (capacity > MaxClassSize) return capacity;
        return capacity <= MinClassSize ? MinClassSize : 1 << (BitOperations.Log2((uint)capacity - 1) + 1);
    }

    /// <summary>A buffer of at least <paramref name="capacity"/> bytes (its contents are undefined).</summary>
    public byte[] Take(int capacity)
    {
        int size = ClassSize(capacity);
        Interlocked.Increment(ref _takes);
        Interlocked.Increment(ref _outstandingBuffers);
        Interlocked.Add(ref _outstandingBytes, size);
        if (size <= MaxClassSize)
        {
            var sizeClass = _classes[ClassIndex(size)];
            byte[]? buffer = null;
            lock (sizeClass)
            {
                if (sizeClass.Count > 0)
                {
                    buffer = sizeClass.Items[--sizeClass.Count];
                    sizeClass.Items[sizeClass.Count] = null;
                }
            }
            if (buffer is not null)
            {
                Interlocked.Add(ref _retainedBytes, -size);
                return buffer;
            }
        }
        Interlocked.Increment(ref _allocations);
        return GC.AllocateUninitializedArray<byte>(size);
    }

    /// <summary>Gives back a buffer from <see cref="Take"/>; the caller must not touch it again.</summary>
    public void Return(byte[] buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        int size = buffer.Length;
        Interlocked.Increment(ref _returns);
        Interlocked.Decrement(ref _outstandingBuffers);
        Interlocked.Add(ref _outstandingBytes, -size);
        bool ofAClass = size >= MinClassSize && size <= MaxClassSize && BitOperations.IsPow2(size);
        if (!ofAClass)
        {
            Interlocked.Increment(ref _discards);
            return;
        }
        if (Interlocked.Add(ref _retainedBytes, size) > MaxRetainedBytes)
        {
            Interlocked.Add(ref _retainedBytes, -size);
            Interlocked.Increment(ref _discards);
            return;
        }
        var sizeClass = _classes[ClassIndex(size)];
        lock (sizeClass)
        {
            // Grows only when more buffers are retained than ever before (bounded by MaxRetainedBytes).
            if (sizeClass.Count == sizeClass.Items.Length) Array.Resize(ref sizeClass.Items, Math.Max(4, sizeClass.Items.Length * 2));
            sizeClass.Items[sizeClass.Count++] = buffer;
        }
    }

    /// <summary>Lets the garbage collector have every free buffer kept (after a burst, or under memory pressure).</summary>
    public void Trim()
    {
        foreach (var sizeClass in _classes)
        {
            long size = 0;
            lock (sizeClass)
            {
                for (int i = 0; i < sizeClass.Count; i++)
                {
                    size += sizeClass.Items[i]!.Length;
                    sizeClass.Items[i] = null;
                }
                sizeClass.Count = 0;
            }
            Interlocked.Add(ref _retainedBytes, -size);
        }
    }

    private static int ClassIndex(int size) => BitOperations.Log2((uint)size) - MinShift;

    private sealed class SizeClass
    {
        public byte[]?[] Items = [];
        public int Count;
    }
}
