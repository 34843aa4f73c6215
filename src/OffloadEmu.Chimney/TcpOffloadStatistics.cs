namespace OffloadEmu.Chimney;

/// <summary>Live TCP counters of offloaded traffic for one IP version, safe to update from any thread.</summary>
/// <remarks>
/// Chimney spec §6.10: offloaded traffic only, per interface and IP version, wrapping at 2^64. Each counter is updated
/// atomically; a <see cref="Snapshot"/> reads them one by one, so counters updated meanwhile may be off by in-flight
/// increments relative to each other (as with any MIB walk). [EMU] <see cref="Reset"/> (the OID set) zeroes the
/// counters but keeps <c>CurrentlyEstablished</c>, a gauge of live connections rather than a count.
/// </remarks>
public sealed class TcpOffloadStatistics
{
    private ulong _inSegments;
    private ulong _outSegments;
    private long _currentlyEstablished;
    private ulong _resetEstablished;
    private ulong _retransmittedSegments;
    private ulong _inErrors;
    private ulong _outResets;

    /// <summary>Counts received segments.</summary>
    public void AddInSegments(ulong count = 1) => Interlocked.Add(ref _inSegments, count);

    /// <summary>Counts sent segments (not pure retransmissions).</summary>
    public void AddOutSegments(ulong count = 1) => Interlocked.Add(ref _outSegments, count);

    /// <summary>A connection entered ESTABLISHED or CLOSE_WAIT (including by offload).</summary>
    public void IncrementCurrentlyEstablished() => Interlocked.Increment(ref _currentlyEstablished);

    /// <summary>A connection left ESTABLISHED / CLOSE_WAIT (including by upload).</summary>
    public void DecrementCurrentlyEstablished() => Interlocked.Decrement(ref _currentlyEstablished);

    /// <summary>Counts a reset of an ESTABLISHED or CLOSE_WAIT connection.</summary>
    public void AddResetEstablished(ulong count = 1) => Interlocked.Add(ref _resetEstablished, count);

    /// <summary>Counts retransmitted segments.</summary>
    public void AddRetransmittedSegments(ulong count = 1) => Interlocked.Add(ref _retransmittedSegments, count);

    /// <summary>Counts received segments dropped in error.</summary>
    public void AddInErrors(ulong count = 1) => Interlocked.Add(ref _inErrors, count);

    /// <summary>Counts sent RST segments.</summary>
    public void AddOutResets(ulong count = 1) => Interlocked.Add(ref _outResets, count);

    /// <summary>Reads every counter.</summary>
    public TcpOffloadStatisticsSnapshot Snapshot() => new(
        Interlocked.Read(ref _inSegments),
        Interlocked.Read(ref _outSegments),
        // A racing decrement before its increment can dip below zero for a moment; report 0 then.
        (ulong)Math.Max(0, Interlocked.Read(ref _currentlyEstablished)),
        Interlocked.Read(ref _resetEstablished),
        Interlocked.Read(ref _retransmittedSegments),
        Interlocked.Read(ref _inErrors),
        Interlocked.Read(ref _outResets));

    /// <summary>Zeroes the counters (the OID set), keeping the CurrentlyEstablished gauge.</summary>
    public void Reset()
    {
        Interlocked.Exchange(ref _inSegments, 0);
        Interlocked.Exchange(ref _outSegments, 0);
        Interlocked.Exchange(ref _resetEstablished, 0);
        Interlocked.Exchange(ref _retransmittedSegments, 0);
        Interlocked.Exchange(ref _inErrors, 0);
        Interlocked.Exchange(ref _outResets, 0);
    }
}
