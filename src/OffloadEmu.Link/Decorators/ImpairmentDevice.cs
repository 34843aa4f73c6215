using OffloadEmu.Wire;

namespace OffloadEmu.Link.Decorators;

/// <summary>
/// A user-mode netem (tcp-requirements "Lab pitfalls" 7): delays, jitters, rate-limits, reorders,
/// loses, duplicates and corrupts frames, with a separate <see cref="ImpairmentSpec"/> per direction.
/// Ingress applies to frames coming from the wire (<see cref="Receive"/>), egress to frames we
/// <see cref="Send"/>. Decisions come from a seeded xoshiro256** per direction, so the same seed and the
/// same frames give the same decisions, and time from the injected <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// <para>Held frames are pooled copies (rented from the pool, returned on release) in a due-time queue;
/// the caller's buffers are never modified or kept.</para>
/// <para>Egress: due frames are released on every <see cref="Send"/> and by a one-shot timer from the
/// <see cref="TimeProvider"/> that is re-armed for the next due time. The timer callback only hands
/// frames to the inner device's Send (under the same lock as <see cref="Send"/>, so the inner device
/// still sees one sender at a time); it never runs user code. A failure of the inner device on the
/// timer is counted as <see cref="DropReason.IoError"/> since there is no caller to throw to.</para>
/// <para>Ingress: <see cref="Receive"/> polls the inner device, passes its frames through the queue and
/// returns the due ones, waiting up to the timeout for new frames or the next due time. The wait is
/// done by the inner device's Receive, so with a manual clock use timeout 0 and advance the clock.</para>
/// <para>Drops by loss count as <see cref="DropReason.Impairment"/> in the shared
/// <see cref="Statistics"/> (the inner device's). Held egress frames are discarded on Dispose. The
/// decorator owns the inner device and disposes it.</para>
/// </remarks>
public sealed class ImpairmentDevice : ILinkDevice
{
    private const int BatchSize = 64;

    private readonly ILinkDevice _inner;
    private readonly TimeProvider _time;
    private readonly FramePool _pool;
    private readonly ImpairmentPipe? _ingress;
    private readonly ImpairmentPipe? _egress;
    private readonly Lock _sendGate = new();
    private readonly ITimer? _egressTimer;
    private readonly FrameBuffer[] _txBatch = new FrameBuffer[BatchSize];
    private readonly FrameBuffer[] _rxScratch;
    private readonly FrameBuffer[] _rxBatch = new FrameBuffer[BatchSize];
    private bool _disposed;

    /// <summary>Wraps <paramref name="inner"/> with the given per-direction impairments.</summary>
    /// <param name="inner">The device to impair (owned and disposed by this decorator).</param>
    /// <param name="ingress">Impairment of received frames.</param>
    /// <param name="egress">Impairment of sent frames.</param>
    /// <param name="seed">PRNG seed; each direction derives its own stream from it.</param>
    /// <param name="timeProvider">Clock and timers (default: the system clock).</param>
    /// <param name="pool">Pool for held copies (default: a private pool of <see cref="FramePool.DefaultBufferSize"/> buffers).</param>
    public ImpairmentDevice(ILinkDevice inner, ImpairmentSpec ingress, ImpairmentSpec egress, ulong seed = 0,
        TimeProvider? timeProvider = null, FramePool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(ingress);
        ArgumentNullException.ThrowIfNull(egress);
        _inner = inner;
        _time = timeProvider ?? TimeProvider.System;
        _pool = pool ?? new FramePool();
        Ingress = ingress;
        Egress = egress;
        long frequency = _time.TimestampFrequency;
        // Independent streams per direction: traffic in one direction never shifts the other's decisions.
        if (!ingress.IsNone) _ingress = new ImpairmentPipe(ingress, seed, frequency, _pool, inner.Statistics);
        if (!egress.IsNone)
        {
            _egress = new ImpairmentPipe(egress, seed ^ 0xE6E5_5EED_0000_0001UL, frequency, _pool, inner.Statistics);
            _egressTimer = _time.CreateTimer(static s => ((ImpairmentDevice)s!).OnEgressTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
        _rxScratch = new FrameBuffer[_ingress is null ? 0 : BatchSize];
        for (int i = 0; i < _rxScratch.Length; i++) _rxScratch[i] = _pool.Rent();
    }

    /// <summary>Wraps <paramref name="inner"/>, parsing both specs with <see cref="ImpairmentSpec.Parse"/>.</summary>
    public ImpairmentDevice(ILinkDevice inner, string ingress, string egress, ulong seed = 0, TimeProvider? timeProvider = null, FramePool? pool = null)
        : this(inner, ImpairmentSpec.Parse(ingress), ImpairmentSpec.Parse(egress), seed, timeProvider, pool)
    {
    }

    /// <summary>Impairment of received frames.</summary>
    public ImpairmentSpec Ingress { get; }
    /// <summary>Impairment of sent frames.</summary>
    public ImpairmentSpec Egress { get; }

    /// <inheritdoc/>
    public string Name => _inner.Name;
    /// <inheritdoc/>
    public MacAddress MacAddress => _inner.MacAddress;
    /// <inheritdoc/>
    public int Mtu => _inner.Mtu;
    /// <inheritdoc/>
    public ChecksumCapabilities Checksums => _inner.Checksums;
    /// <summary>The inner device's counters, to which this decorator adds <see cref="DropReason.Impairment"/> drops.</summary>
    public LinkStatistics Statistics => _inner.Statistics;

    /// <summary>Egress frames held now (for tests and diagnostics).</summary>
    public int HeldEgress { get { lock (_sendGate) return _egress?.Count ?? 0; } }

    /// <summary>Ingress frames held now (read from the receive thread).</summary>
    public int HeldIngress => _ingress?.Count ?? 0;

    /// <summary>Queues the frames through the egress impairment and sends those already due. Returns <c>frames.Length</c>: every frame was taken (sent, held or deliberately dropped).</summary>
    public int Send(ReadOnlySpan<FrameBuffer> frames)
    {
        if (_egress is null) return _inner.Send(frames);
        lock (_sendGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            long now = _time.GetTimestamp();
            foreach (var frame in frames) _egress.Admit(frame, now, owned: false);
            try
            {
                ReleaseEgress(now);
            }
            finally
            {
                ArmEgressTimer(now);
            }
        }
        return frames.Length;
    }

    private void ReleaseEgress(long now)
    {
        while (true)
        {
            int n = _egress!.Release(now, _txBatch);
            if (n == 0) return;
            try
            {
                _inner.Send(_txBatch.AsSpan(0, n));
            }
            finally
            {
                for (int i = 0; i < n; i++)
                {
                    _pool.Return(_txBatch[i]);
                    _txBatch[i] = null!;
                }
            }
        }
    }

    private void ArmEgressTimer(long now)
    {
        if (_egress!.TryPeekDue(out long due))
        {
            // Round up to whole TimeSpan ticks: a timer that fires a fraction of a tick early would find
            // nothing due and re-arm itself with zero, spinning until the clock moves.
            long ticks = due <= now ? 0 : (long)Math.Ceiling((double)(due - now) * TimeSpan.TicksPerSecond / _time.TimestampFrequency);
            _egressTimer!.Change(TimeSpan.FromTicks(ticks), Timeout.InfiniteTimeSpan);
        }
        else
        {
            _egressTimer!.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnEgressTimer()
    {
        lock (_sendGate)
        {
            if (_disposed) return;
            long now = _time.GetTimestamp();
            try
            {
                ReleaseEgress(now);
            }
            catch (Exception)
            {
                // Nobody to throw to on a timer: count it; the Send path will surface a dead device.
                Statistics.CountDrop(DropReason.IoError);
            }
            ArmEgressTimer(now);
        }
    }

    /// <summary>Receives frames through the ingress impairment (see the class remarks for how it waits).</summary>
    public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds)
    {
        if (_ingress is null) return _inner.Receive(frames, timeoutMilliseconds);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (frames.Length == 0) return 0;
        long start = _time.GetTimestamp();
        while (true)
        {
            long now = _time.GetTimestamp();
            int wait = WaitMilliseconds(now, start, timeoutMilliseconds);
            int n = _inner.Receive(_rxScratch.AsSpan(0, Math.Min(frames.Length, _rxScratch.Length)), wait);
            now = _time.GetTimestamp();
            for (int i = 0; i < n; i++)
            {
                _ingress.Admit(_rxScratch[i], now, owned: true);
                _rxScratch[i] = _pool.Rent();
            }
            int delivered = DeliverIngress(frames, now);
            if (delivered > 0 || timeoutMilliseconds == 0) return delivered;
            if (timeoutMilliseconds > 0 && _time.GetElapsedTime(start, _time.GetTimestamp()).TotalMilliseconds >= timeoutMilliseconds) return 0;
        }
    }

    // How long the inner Receive may block: until the caller's timeout or the next held frame is due.
    private int WaitMilliseconds(long now, long start, int timeoutMilliseconds)
    {
        if (timeoutMilliseconds == 0) return 0;
        double limit = timeoutMilliseconds < 0 ? double.PositiveInfinity
            : Math.Max(0, timeoutMilliseconds - _time.GetElapsedTime(start, now).TotalMilliseconds);
        if (_ingress!.TryPeekDue(out long due))
            limit = Math.Min(limit, due <= now ? 0 : _time.GetElapsedTime(now, due).TotalMilliseconds);
        return double.IsPositiveInfinity(limit) ? -1 : (int)Math.Ceiling(Math.Min(limit, int.MaxValue));
    }

    private int DeliverIngress(Span<FrameBuffer> frames, long now)
    {
        int delivered = 0;
        while (delivered < frames.Length)
        {
            int n = _ingress!.Release(now, _rxBatch.AsSpan(0, Math.Min(_rxBatch.Length, frames.Length - delivered)));
            if (n == 0) break;
            for (int i = 0; i < n; i++)
            {
                var held = _rxBatch[i];
                _rxBatch[i] = null!;
                var target = frames[delivered];
                if (held.Length <= target.Array.Length)
                {
                    held.Span.CopyTo(target.Array);
                    target.Length = held.Length;
                    target.TimestampNs = held.TimestampNs;
                    delivered++;
                }
                else
                {
                    Statistics.CountDrop(DropReason.TooLong);
                }
                _pool.Return(held);
            }
        }
        return delivered;
    }

    /// <summary>Stops the timer, discards held frames and disposes the inner device.</summary>
    public void Dispose()
    {
        lock (_sendGate)
        {
            if (_disposed) return;
            _disposed = true;
            _egressTimer?.Dispose();
            _egress?.Clear();
        }
        _ingress?.Clear();
        foreach (var b in _rxScratch) _pool.Return(b);
        _inner.Dispose();
    }
}
