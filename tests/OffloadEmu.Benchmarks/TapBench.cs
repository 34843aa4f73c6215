using System.Diagnostics;
using System.Globalization;
using OffloadEmu.Link;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// The C# side of scripts/bench.sh: the same measurement as scripts/bench/tapbench.c but through
/// <see cref="TapDevice"/> (non-blocking fd, batches of 32 through Send/Receive).
/// <code>
///   OffloadEmu.Benchmarks tap write IFNAME SIZE SECONDS
///   OffloadEmu.Benchmarks tap read  IFNAME SECONDS
/// </code>
/// Run inside the TAP's namespace. 1 s of warm-up (JIT tiering) then SECONDS measured; prints
/// "frames=N seconds=T fps=F" like the C program. Written frames go to the TAP's kernel MAC with
/// EtherType 0x88B5, which the kernel drops at once.
/// </summary>
internal static class TapBench
{
    private const int Batch = 32;

    internal static int Run(string[] args)
    {
        if (args.Length == 5 && args[1] == "write") return Write(args[2], int.Parse(args[3], CultureInfo.InvariantCulture), double.Parse(args[4], CultureInfo.InvariantCulture));
        if (args.Length == 4 && args[1] == "read") return Read(args[2], double.Parse(args[3], CultureInfo.InvariantCulture));
        Console.Error.WriteLine("usage: tap write IFNAME SIZE SECONDS | tap read IFNAME SECONDS");
        return 2;
    }

    private static int Write(string name, int size, double seconds)
    {
        using var tap = TapDevice.Attach(name);
        var pool = new FramePool(FramePool.DefaultBufferSize, Batch);
        var frames = new FrameBuffer[Batch];
        for (int i = 0; i < Batch; i++)
        {
            var f = pool.Rent();
            var span = f.Capacity[..size];
            span.Fill(0x5a);
            tap.PeerMacAddress.Write(span);
            tap.MacAddress.Write(span[6..]);
            span[12] = 0x88; span[13] = 0xb5;
            f.Length = size;
            frames[i] = f;
        }

        long frameCount = 0;
        long start = Stopwatch.GetTimestamp();
        bool measuring = false;
        double elapsed;
        while (true)
        {
            for (int i = 0; i < 8; i++) frameCount += tap.Send(frames);
            elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (!measuring && elapsed >= 1.0) { measuring = true; frameCount = 0; start = Stopwatch.GetTimestamp(); continue; }
            if (measuring && elapsed >= seconds) break;
        }
        Report(frameCount, elapsed, tap);
        return 0;
    }

    private static int Read(string name, double seconds)
    {
        using var tap = TapDevice.Attach(name);
        var pool = new FramePool(FramePool.DefaultBufferSize, Batch);
        var frames = new FrameBuffer[Batch];
        for (int i = 0; i < Batch; i++) frames[i] = pool.Rent();

        long frameCount = 0;
        long start = Stopwatch.GetTimestamp();
        bool measuring = false;
        double elapsed;
        while (true)
        {
            frameCount += tap.Receive(frames, 100);
            elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (!measuring && elapsed >= 1.0) { measuring = true; frameCount = 0; start = Stopwatch.GetTimestamp(); continue; }
            if (measuring && elapsed >= seconds) break;
        }
        Report(frameCount, elapsed, tap);
        return 0;
    }

    private static void Report(long frames, double seconds, TapDevice tap)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"frames={frames} seconds={seconds:F3} fps={frames / seconds:F0}"));
        if (tap.Statistics.TotalDrops > 0) Console.Error.WriteLine($"drops: {tap.Statistics}");
    }
}
