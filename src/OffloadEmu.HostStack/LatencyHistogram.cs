using System.Diagnostics;

namespace OffloadEmu.HostStack;

/// <summary>
/// A thread-safe latency histogram with fixed buckets (allocation-free to record): 1 µs wide below 128 µs, then 16
/// buckets per power of two (at most 1/16 relative error) up to about 18 minutes. Used for the time from a
/// <c>TcpOffloadSend</c> to its completion (<see cref="HostStackStatistics.SendCompletionLatency"/>).
/// </summary>
public sealed class LatencyHistogram
{
    private const int Linear = 128;
    private const int SubBuckets = 16;
    private const int Octaves = 24;   // 2^7 .. 2^31 µs
    private readonly long[] _buckets = new long[Linear + Octaves * SubBuckets];
    private long _count;

    /// <summary>Samples recorded.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Records the time since <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/>).</summary>
    public void RecordSince(long startTimestamp)
        => RecordMicroseconds((Stopwatch.GetTimestamp() - startTimestamp) * 1_000_000 / Stopwatch.Frequency);

    /// <summary>Records one sample of <paramref name="microseconds"/> (negative counts as 0).</summary>
    public void RecordMicroseconds(long microseconds)
    {
        Interlocked.Increment(ref _buckets[IndexOf(Math.Max(0, microseconds))]);
        Interlocked.Increment(ref _count);
    }

    /// <summary>The smallest bucket bound in µs below which at least <paramref name="fraction"/> of the samples lie
    /// (0 when empty): the sample's value within its bucket's width.</summary>
    public double Percentile(double fraction)
    {
        long total = Count;
        if (total == 0) return 0;
        long rank = Math.Max(1, (long)Math.Ceiling(fraction * total));
        long seen = 0;
        for (int i = 0; i < _buckets.Length; i++)
        {
            seen += Interlocked.Read(ref _buckets[i]);
            if (seen >= rank) return UpperBound(i);
        }
        return UpperBound(_buckets.Length - 1);
    }

    private static int IndexOf(long us)
    {
        if (us < Linear) return (int)us;
        int octave = 63 - (int)long.LeadingZeroCount(us);     // 7 and up
        if (octave >= 7 + Octaves) return Linear + Octaves * SubBuckets - 1;
        int sub = (int)(us >> (octave - 4)) & (SubBuckets - 1);
        return Linear + (octave - 7) * SubBuckets + sub;
    }

    private static double UpperBound(int index)
    {
        if (index < Linear) return index + 1;
        int octave = 7 + (index - Linear) / SubBuckets;
        int sub = (index - Linear) % SubBuckets;
        return (double)((1L << octave) + ((long)(sub + 1) << (octave - 4)));
    }
}
