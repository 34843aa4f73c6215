using System.Diagnostics;
using OffloadEmu.Wire;

namespace OffloadEmu.Link.Devices;

/// <summary>
/// One end of an in-memory Ethernet cable: what one end sends, the other receives, in order.
/// </summary>
/// <remarks>
/// Each end owns a bounded ring of preallocated frame slots for its inbound direction. Send copies
/// the sender's frame into a free slot of the peer's ring (full ring: counted
/// <see cref="DropReason.QueueFull"/>, as a real NIC's queue would drop); Receive copies slots into
/// the caller's rented buffers and blocks on the ring's monitor until the timeout. Nothing is
/// allocated per frame. Disposing one end makes the other end's sends count
/// <see cref="DropReason.InterfaceDown"/>.
/// </remarks>
public sealed class MemoryLink : ILinkDevice
{
    private readonly object _gate = new();
    private readonly byte[][] _slots;
    private readonly int[] _lengths;
    private readonly long[] _timestamps;
    private readonly VirtioNetHeader[] _offloads;
    private readonly int _maxFrame;
    private readonly int _maxSuperFrame;
    private readonly bool _offload;
    private int _head;      // next slot to receive from
    private int _count;     // queued frames
    private bool _disposed;
    private MemoryLink _peer = null!;
    // A multi-queue pair: the single end's peers, one per queue (null for a plain pair).
    private MemoryLink[]? _queues;

    private MemoryLink(string name, MacAddress mac, int mtu, int capacity, bool offload = false)
    {
        Name = name;
        MacAddress = mac;
        Mtu = mtu;
        _offload = offload;
        _maxFrame = FrameLimits.MaxFrameLength(mtu);
        _maxSuperFrame = offload ? FramePool.SuperFrameBufferSize : _maxFrame;
        _slots = new byte[capacity][];
        // Segmentation offload: 64 KiB slots, made when first used (a full ring of them is rarely needed).
        if (!offload) for (int i = 0; i < capacity; i++) _slots[i] = new byte[_maxFrame];
        _lengths = new int[capacity];
        _timestamps = new long[capacity];
        _offloads = new VirtioNetHeader[offload ? capacity : 0];
    }

    /// <summary>Creates two connected ends.</summary>
    /// <param name="a">End A (default name "mem0").</param>
    /// <param name="b">End B (default name "mem1").</param>
    /// <param name="options">Capacity, MTU, names and MACs; null for the defaults.</param>
    public static void CreatePair(out MemoryLink a, out MemoryLink b, MemoryLinkOptions? options = null)
    {
        options ??= new MemoryLinkOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Mtu, 46);
        a = new MemoryLink(options.NameA, options.MacAddressA, options.Mtu, options.Capacity, options.SegmentationOffload);
        b = new MemoryLink(options.NameB, options.MacAddressB, options.Mtu, options.Capacity, options.SegmentationOffload);
        a._peer = b;
        b._peer = a;
    }

    /// <summary>
    /// Creates a multi-queue pair, as a multi-queue NIC and the wire: <paramref name="queues"/> ends on one side (each a
    /// queue: what it sends reaches <paramref name="peer"/>), one end on the other, whose sends go to the queue its
    /// <see cref="Steering"/> picks per frame (default <see cref="DefaultSteering"/>, a flow hash).
    /// </summary>
    /// <param name="queues">The queue ends (names "NAMEA/qI", same MAC).</param>
    /// <param name="peer">The single end.</param>
    /// <param name="queueCount">How many queues (1–64).</param>
    /// <param name="options">Capacity (per queue), MTU, names and MACs; null for the defaults.</param>
    public static void CreateMultiQueue(out MemoryLink[] queues, out MemoryLink peer, int queueCount, MemoryLinkOptions? options = null)
    {
        options ??= new MemoryLinkOptions();
        if (options.SegmentationOffload) throw new ArgumentException("A multi-queue MemoryLink does not carry segmentation offload.", nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(queueCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(queueCount, 64);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Mtu, 46);
        peer = new MemoryLink(options.NameB, options.MacAddressB, options.Mtu, options.Capacity);
        queues = new MemoryLink[queueCount];
        for (int i = 0; i < queueCount; i++)
        {
            queues[i] = new MemoryLink(queueCount == 1 ? options.NameA : $"{options.NameA}/q{i}", options.MacAddressA, options.Mtu, options.Capacity);
            queues[i]._peer = peer;
        }
        peer._peer = queues[0];
        peer._queues = queues;
    }

    /// <summary>The single end of a multi-queue pair: picks the queue each frame it sends arrives on (the frame, the
    /// number of queues; the result is taken modulo the queues). Any thread; read once per frame.</summary>
    public MemoryLinkSteering Steering { get; set; } = DefaultSteering;

    /// <summary>A flow hash as a NIC's RSS would (not the target's loop hash, so some frames arrive on a queue whose
    /// loop does not own the connection): TCP/UDP over IPv4 or IPv6 by source and destination port
    /// (<c>(srcPort × 31 + dstPort) mod queues</c>); everything else on queue 0.</summary>
    public static int DefaultSteering(ReadOnlySpan<byte> frame, int queues)
    {
        if (queues <= 1 || frame.Length < 14) return 0;
        int offset = 12;
        int etherType = frame[offset] << 8 | frame[offset + 1];
        if (etherType == 0x8100 && frame.Length >= 18)
        {
            offset += 4;
            etherType = frame[offset] << 8 | frame[offset + 1];
        }
        int ip = offset + 2;
        int l4;
        if (etherType == 0x0800 && frame.Length >= ip + 20 && (frame[ip + 9] == 6 || frame[ip + 9] == 17)) l4 = ip + (frame[ip] & 0x0F) * 4;
        else if (etherType == 0x86DD && frame.Length >= ip + 40 && (frame[ip + 6] == 6 || frame[ip + 6] == 17)) l4 = ip + 40;
        else return 0;
        if (frame.Length < l4 + 4) return 0;
        int source = frame[l4] << 8 | frame[l4 + 1];
        int destination = frame[l4 + 2] << 8 | frame[l4 + 3];
        return (source * 31 + destination) % queues;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public MacAddress MacAddress { get; }

    /// <inheritdoc/>
    public int Mtu { get; }

    /// <summary>None: frames pass untouched.</summary>
    public ChecksumCapabilities Checksums => _offload
        ? ChecksumCapabilities.TxOffload | ChecksumCapabilities.RxValidated | ChecksumCapabilities.SegmentationOffload
        : ChecksumCapabilities.None;

    /// <inheritdoc/>
    public LinkStatistics Statistics { get; } = new();

    /// <summary>The other end.</summary>
    public MemoryLink Peer => _peer;

    /// <summary>Frames waiting to be received at this end.</summary>
    public int QueuedFrames { get { lock (_gate) return _count; } }

    /// <inheritdoc/>
    public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds)
    {
        if (frames.IsEmpty) return 0;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_count == 0)
            {
                if (timeoutMilliseconds == 0) return 0;
                long start = Stopwatch.GetTimestamp();
                while (_count == 0 && !_disposed)
                {
                    int wait = Timeout.Infinite;
                    if (timeoutMilliseconds > 0)
                    {
                        wait = timeoutMilliseconds - (int)Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        if (wait <= 0) return 0;
                    }
                    Monitor.Wait(_gate, wait);
                }
                if (_count == 0) return 0;   // disposed while waiting
            }

            int n = Math.Min(_count, frames.Length);
            for (int i = 0; i < n; i++)
            {
                var frame = frames[i];
                int length = _lengths[_head];
                if (length > frame.Array.Length)
                {
                    // The caller's buffer is smaller than the frame: drop it rather than truncate.
                    Statistics.CountDrop(DropReason.TooLong);
                    frame.Length = 0;
                }
                else
                {
                    _slots[_head].AsSpan(0, length).CopyTo(frame.Array);
                    frame.Length = length;
                    frame.TimestampNs = _timestamps[_head];
                    frame.Offload = _offload ? _offloads[_head] : default;
                    Statistics.CountIn(length);
                    if (frame.Offload.IsGso) Statistics.CountSuperFrameIn();
                }
                _head = _head + 1 == _slots.Length ? 0 : _head + 1;
            }
            _count -= n;
            return Compact(frames, n);
        }
    }

    // Removes the zero-length placeholders left by oversized frames (rare), keeping order.
    private static int Compact(Span<FrameBuffer> frames, int n)
    {
        int kept = 0;
        for (int i = 0; i < n; i++)
        {
            if (frames[i].Length == 0) continue;
            if (kept != i) (frames[kept], frames[i]) = (frames[i], frames[kept]);
            kept++;
        }
        return kept;
    }

    /// <inheritdoc/>
    public int Send(ReadOnlySpan<FrameBuffer> frames)
    {
        lock (_gate) ObjectDisposedException.ThrowIf(_disposed, this);
        if (_queues is { } queues) return SendSteered(frames, queues);
        var peer = _peer;
        int sent = 0;
        lock (peer._gate)
        {
            foreach (var frame in frames)
            {
                int length = frame.Length;
                var offload = _offload ? frame.Offload : default;
                if (!FrameLimits.CheckOutgoing(length, offload.IsGso ? _maxSuperFrame : _maxFrame, Statistics)) continue;
                if (peer._disposed) { Statistics.CountDrop(DropReason.InterfaceDown); continue; }
                if (peer._count == peer._slots.Length) { Statistics.CountDrop(DropReason.QueueFull); continue; }
                int tail = peer._head + peer._count;
                if (tail >= peer._slots.Length) tail -= peer._slots.Length;
                frame.Span.CopyTo(peer._slots[tail] ??= new byte[peer._maxSuperFrame]);
                peer._lengths[tail] = length;
                peer._timestamps[tail] = frame.TimestampNs != 0 ? frame.TimestampNs : WallClock.NowNs();
                if (peer._offload) peer._offloads[tail] = offload;
                peer._count++;
                Statistics.CountOut(length);
                if (offload.IsGso) Statistics.CountSuperFrameOut();
                sent++;
            }
            if (sent > 0) Monitor.PulseAll(peer._gate);
        }
        return sent;
    }

    // The single end of a multi-queue pair: each frame to the queue the steering picks, in order per queue.
    private int SendSteered(ReadOnlySpan<FrameBuffer> frames, MemoryLink[] queues)
    {
        var steering = Steering;
        int sent = 0;
        foreach (var frame in frames)
        {
            int length = frame.Length;
            if (!FrameLimits.CheckOutgoing(length, _maxFrame, Statistics)) continue;
            int q = steering(frame.Span, queues.Length) % queues.Length;
            if (q < 0) q += queues.Length;
            var peer = queues[q];
            lock (peer._gate)
            {
                if (peer._disposed) { Statistics.CountDrop(DropReason.InterfaceDown); continue; }
                if (peer._count == peer._slots.Length) { Statistics.CountDrop(DropReason.QueueFull); continue; }
                int tail = peer._head + peer._count;
                if (tail >= peer._slots.Length) tail -= peer._slots.Length;
                frame.Span.CopyTo(peer._slots[tail]);
                peer._lengths[tail] = length;
                peer._timestamps[tail] = frame.TimestampNs != 0 ? frame.TimestampNs : WallClock.NowNs();
                peer._count++;
                Statistics.CountOut(length);
                sent++;
                Monitor.PulseAll(peer._gate);
            }
        }
        return sent;
    }

    /// <summary>Closes this end: a blocked Receive returns 0, the peer's sends count InterfaceDown. Safe to call twice.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _count = 0;
            Monitor.PulseAll(_gate);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"memory {Name} ({MacAddress}, mtu {Mtu})";
}
