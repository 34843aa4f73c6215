namespace OffloadEmu.Link.Devices;

/// <summary>Wall-clock receive timestamps in nanoseconds since the Unix epoch, without allocating.</summary>
internal static class WallClock
{
    /// <summary>Now, in nanoseconds since 1970-01-01 UTC (100 ns resolution).</summary>
    internal static long NowNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
}
