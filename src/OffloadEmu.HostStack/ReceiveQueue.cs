using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace OffloadEmu.HostStack;

/// <summary>
/// A connection's received bytes between the engine (or the chimney receive callbacks) and the application: a byte
/// ring with a soft limit (the free space decides how much of a receive indication or a host-mode delivery is taken),
/// end of stream, a connection error, and at most one pending read. The one lock of the data path sits here, at the
/// application boundary, as in a kernel socket buffer; connection state in the engine loop is never locked.
/// </summary>
/// <remarks>Chimney spec §3: indications are answered from the application's buffer space; posts are sized to its
/// reads. Data from posts may exceed the soft limit (a post is issued only while the ring is empty).</remarks>
internal sealed class ReceiveQueue : IValueTaskSource<int>
{
    private readonly Lock _lock = new();
    private byte[] _ring;
    private readonly int _softLimit;
    private int _head;
    private int _count;
    private bool _eof;
    private Exception? _error;
    // One reusable completion for the (single) pending read: waiting reads allocate nothing.
    private ManualResetValueTaskSourceCore<int> _core;
    private bool _pendingRead;
    private Memory<byte> _pendingBuffer;
    private CancellationToken _pendingToken;
    private CancellationTokenRegistration _pendingRegistration;
    private long _totalAppended;

    private readonly bool _asyncContinuations;

    // Set around a delivery by a thread that may run the reader's continuation itself (HostStackOptions.InlineReadCompletions).
    [ThreadStatic]
    private static bool t_inline;

    public ReceiveQueue(int softLimit, bool asyncContinuations)
    {
        _softLimit = softLimit;
        _ring = new byte[softLimit * 2];
        _asyncContinuations = asyncContinuations;
        _core.RunContinuationsAsynchronously = asyncContinuations;
    }

    /// <summary>While the returned scope lasts, a read this thread completes continues on this thread when
    /// <paramref name="inline"/> (else as configured).</summary>
    public static InlineScope DeliverInline(bool inline)
    {
        bool before = t_inline;
        t_inline = inline;
        return new InlineScope(before);
    }

    /// <summary>Restores the thread's previous delivery mode.</summary>
    public readonly struct InlineScope(bool before) : IDisposable
    {
        public void Dispose() => t_inline = before;
    }

    /// <summary>Bytes that can be taken from an indication or a delivery now.</summary>
    public int Free
    {
        get
        {
            lock (_lock) return Math.Max(0, _softLimit - _count);
        }
    }

    /// <summary>Bytes waiting for the application.</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _count;
        }
    }

    /// <summary>Bytes ever appended (statistics).</summary>
    public long TotalAppended
    {
        get
        {
            lock (_lock) return _totalAppended;
        }
    }

    /// <summary>True while the application waits in a read.</summary>
    public bool HasPendingRead
    {
        get
        {
            lock (_lock) return _pendingRead;
        }
    }

    /// <summary>The size of the pending read (0 = none).</summary>
    public int PendingReadSize
    {
        get
        {
            lock (_lock) return _pendingRead ? _pendingBuffer.Length : 0;
        }
    }

    public bool IsEnded
    {
        get
        {
            lock (_lock) return _eof || _error is not null;
        }
    }

    /// <summary>Appends up to <paramref name="limit"/> bytes of <paramref name="data"/>; returns how many were taken.</summary>
    public int Append(ReadOnlySpan<byte> data, int limit)
    {
        bool done = false;
        int result = 0;
        int taken;
        CancellationTokenRegistration registration = default;
        lock (_lock)
        {
            taken = Math.Min(data.Length, Math.Min(limit, _ring.Length - _count));
            if (taken <= 0) return 0;
            _totalAppended += taken;
            if (_pendingRead && _count == 0)
            {
                // A read waits and nothing is queued before these bytes: they go straight into its buffer (one copy
                // fewer), the rest into the ring.
                var destination = _pendingBuffer.Span;
                result = Math.Min(taken, destination.Length);
                data[..result].CopyTo(destination);
                WriteLocked(data[result..taken]);
                done = TakePending(out registration);
            }
            else
            {
                WriteLocked(data[..taken]);
                if (_pendingRead)
                {
                    result = ReadLocked(_pendingBuffer.Span);
                    done = TakePending(out registration);
                }
            }
        }
        if (done)
        {
            registration.Unregister();
            _core.RunContinuationsAsynchronously = _asyncContinuations && !t_inline;
            _core.SetResult(result);
        }
        return taken;
    }

    // Under the lock, room checked: appends to the ring's tail.
    private void WriteLocked(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        int tail = (_head + _count) % _ring.Length;
        int first = Math.Min(data.Length, _ring.Length - tail);
        data[..first].CopyTo(_ring.AsSpan(tail));
        data[first..].CopyTo(_ring);
        _count += data.Length;
    }

    // Under the lock: makes room for `length` more bytes (bytes the target already delivered are never refused).
    private void EnsureRoomLocked(int length)
    {
        if (_ring.Length - _count >= length) return;
        var bigger = new byte[Math.Max(_ring.Length * 2, _count + length)];
        int first = Math.Min(_count, _ring.Length - _head);
        _ring.AsSpan(_head, first).CopyTo(bigger);
        _ring.AsSpan(0, _count - first).CopyTo(bigger.AsSpan(first));
        _ring = bigger;
        _head = 0;
    }

    /// <summary>Appends all of <paramref name="data"/> (bytes the target already delivered: a completed post, data
    /// returned at terminate), growing the ring in the rare case it lacks room rather than losing bytes.</summary>
    public void AppendAll(ReadOnlySpan<byte> data)
    {
        lock (_lock) EnsureRoomLocked(data.Length);
        int taken = Append(data, data.Length);
        System.Diagnostics.Debug.Assert(taken == data.Length);
    }

    /// <summary>Appends as much as the soft limit allows.</summary>
    public int AppendWithinLimit(ReadOnlySpan<byte> data) => Append(data, Free);

    /// <summary>The peer's FIN: readers see end of stream once the bytes before it are read.</summary>
    public void SetEof()
    {
        bool done;
        CancellationTokenRegistration registration = default;
        lock (_lock)
        {
            _eof = true;
            done = _count == 0 && TakePending(out registration);
        }
        if (!done) return;
        registration.Unregister();
        _core.RunContinuationsAsynchronously = _asyncContinuations;
        _core.SetResult(0);
    }

    /// <summary>The connection failed (reset, abort): pending and later reads throw.</summary>
    public void SetError(Exception error)
    {
        bool done;
        CancellationTokenRegistration registration;
        lock (_lock)
        {
            _error ??= error;
            done = TakePending(out registration);
        }
        if (!done) return;
        registration.Unregister();
        _core.RunContinuationsAsynchronously = _asyncContinuations;
        _core.SetException(_error);
    }

    /// <summary>The application reads: bytes at once if there are any, else a pending read (one at a time). Cancelling
    /// <paramref name="cancellationToken"/> ends a pending read with <see cref="OperationCanceledException"/>; no byte is
    /// lost (data arriving later stays queued for the next read).</summary>
    public ValueTask<int> ReadAsync(Memory<byte> buffer, out bool pending, CancellationToken cancellationToken = default)
    {
        pending = false;
        ValueTask<int> result;
        lock (_lock)
        {
            if (_count > 0) return new ValueTask<int>(ReadLocked(buffer.Span));
            if (_error is not null) return ValueTask.FromException<int>(_error);
            if (_eof || buffer.Length == 0) return new ValueTask<int>(0);
            if (_pendingRead) throw new InvalidOperationException("Only one read may be pending on a connection.");
            _core.Reset();
            _pendingRead = true;
            _pendingBuffer = buffer;
            _pendingToken = cancellationToken;
            pending = true;
            result = new ValueTask<int>(this, _core.Version);
        }
        if (cancellationToken.CanBeCanceled)
        {
            // Registered outside the lock: an already-cancelled token runs the callback at once, and it takes the lock.
            var registration = cancellationToken.UnsafeRegister(static (s, ct) => ((ReceiveQueue)s!).CancelPendingRead(ct), this);
            bool keep;
            lock (_lock)
            {
                keep = _pendingRead && _pendingToken == cancellationToken;
                if (keep) _pendingRegistration = registration;
            }
            if (!keep) registration.Unregister();
        }
        return result;
    }

    private void CancelPendingRead(CancellationToken token)
    {
        lock (_lock)
        {
            if (!_pendingRead || _pendingToken != token) return;   // completed already, or another read's token
            TakePending(out _);
        }
        _core.RunContinuationsAsynchronously = _asyncContinuations;
        _core.SetException(new OperationCanceledException(token));
    }

    private bool TakePending(out CancellationTokenRegistration registration)
    {
        bool p = _pendingRead;
        _pendingRead = false;
        _pendingBuffer = default;
        _pendingToken = default;
        registration = _pendingRegistration;
        _pendingRegistration = default;
        return p;
    }

    int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    private int ReadLocked(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, _count);
        int first = Math.Min(n, _ring.Length - _head);
        _ring.AsSpan(_head, first).CopyTo(destination);
        _ring.AsSpan(0, n - first).CopyTo(destination[first..]);
        _head = (_head + n) % _ring.Length;
        _count -= n;
        return n;
    }

    /// <summary>The error readers and writers see after a reset.</summary>
    public static IOException ResetError(string message)
        => new(message, new SocketException((int)SocketError.ConnectionReset));
}
