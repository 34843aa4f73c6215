namespace OffloadEmu.Link;

/// <summary>Per-device counters (thread-safe increments, lock-free reads).</summary>
public sealed class LinkStatistics
{
    private long _framesIn, _bytesIn, _framesOut, _bytesOut, _superFramesIn, _superFramesOut;
    private readonly long[] _drops = new long[Enum.GetValues<DropReason>().Length];

    /// <summary>Frames received.</summary>
    public long FramesIn => Volatile.Read(ref _framesIn);
    /// <summary>Bytes received (whole frames).</summary>
    public long BytesIn => Volatile.Read(ref _bytesIn);
    /// <summary>Frames sent.</summary>
    public long FramesOut => Volatile.Read(ref _framesOut);
    /// <summary>Bytes sent (whole frames).</summary>
    public long BytesOut => Volatile.Read(ref _bytesOut);

    /// <summary>Super-frames received (segmentation offload: a GSO frame longer than one segment, as the kernel handed it).</summary>
    public long SuperFramesIn => Volatile.Read(ref _superFramesIn);
    /// <summary>Super-frames sent (segmentation offload: a GSO frame the kernel cuts into segments).</summary>
    public long SuperFramesOut => Volatile.Read(ref _superFramesOut);

    /// <summary>Drops counted for <paramref name="reason"/>.</summary>
    public long Drops(DropReason reason) => Volatile.Read(ref _drops[(int)reason]);

    /// <summary>All drops.</summary>
    public long TotalDrops
    {
        get
        {
            long t = 0;
            for (int i = 0; i < _drops.Length; i++) t += Volatile.Read(ref _drops[i]);
            return t;
        }
    }

    /// <summary>Counts one received frame.</summary>
    public void CountIn(int bytes) { Interlocked.Increment(ref _framesIn); Interlocked.Add(ref _bytesIn, bytes); }
    /// <summary>Counts one sent frame.</summary>
    public void CountOut(int bytes) { Interlocked.Increment(ref _framesOut); Interlocked.Add(ref _bytesOut, bytes); }
    /// <summary>Counts one received super-frame (besides <see cref="CountIn"/>).</summary>
    public void CountSuperFrameIn() => Interlocked.Increment(ref _superFramesIn);
    /// <summary>Counts one sent super-frame (besides <see cref="CountOut"/>).</summary>
    public void CountSuperFrameOut() => Interlocked.Increment(ref _superFramesOut);
    /// <summary>Counts one drop.</summary>
    public void CountDrop(DropReason reason) => Interlocked.Increment(ref _drops[(int)reason]);

    /// <inheritdoc/>
    public override string ToString()
        => $"in {FramesIn} frames/{BytesIn} B, out {FramesOut} frames/{BytesOut} B, drops {TotalDrops}"
           + (SuperFramesIn + SuperFramesOut > 0 ? $", super-frames in {SuperFramesIn}/out {SuperFramesOut}" : "");
}
