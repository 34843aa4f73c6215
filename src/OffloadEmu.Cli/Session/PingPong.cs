using System.Diagnostics;
using OffloadEmu.HostStack;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// <c>connect --ping-pong N</c>: one byte out, wait for its echo, N times in a row; the request/response latency of one
/// connection (the transactions/s of netperf's TCP_RR with 1-byte messages). The first tenth (at most 1,000) are a
/// warm-up and not counted.
/// </summary>
internal static class PingPong
{
    /// <summary>Largest N (the samples are kept to take percentiles).</summary>
    public const int MaxRoundTrips = 10_000_000;

    public static async Task<PingPongResult> RunAsync(OffloadSocket socket, int roundTrips)
    {
        int warmUp = Math.Min(roundTrips / 10, 1_000);
        var samples = new long[roundTrips];
        var one = new byte[] { (byte)'p' };
        var reply = new byte[64];
        long started = 0;
        for (int i = -warmUp; i < roundTrips; i++)
        {
            if (i == 0) started = Stopwatch.GetTimestamp();
            long t0 = Stopwatch.GetTimestamp();
            await socket.WriteAsync(one).ConfigureAwait(false);
            int n = await socket.ReadAsync(reply).ConfigureAwait(false);
            if (n == 0) throw new IOException($"the peer closed after {Math.Max(i, 0)} round trips (is it an echo server?)");
            if (n != 1) throw new IOException($"expected 1 byte back per round trip, got {n} (is it an echo server?)");
            if (i >= 0) samples[i] = Stopwatch.GetTimestamp() - t0;
        }
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        Array.Sort(samples);
        return new PingPongResult(roundTrips, seconds, samples);
    }
}
