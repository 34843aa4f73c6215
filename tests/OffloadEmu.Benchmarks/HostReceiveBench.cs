using System.Diagnostics;
using OffloadEmu.HostStack;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// <c>hostrx [seconds] [readSize] [inline|pool]</c>: an offloaded connection's receive path through the host stack, without
/// a device or a kernel (docs/performance.md). Two threaded host stacks, each on its own <see cref="OffloadTarget"/>,
/// joined by a <see cref="MemoryLink"/> pair: B (offloaded) writes without end, A (offloaded) reads with reads of
/// readSize (default 256 KiB, no token, as the CLI's), continuing on the thread that delivered the data (inline, the
/// CLI's <see cref="HostStackOptions.InlineReadCompletions"/>; pool: on the thread pool). Prints
/// the process's CPU seconds per GiB received after a 2 s warm-up (both stacks and both targets), and the rate.
/// </summary>
internal static class HostReceiveBench
{
    public static int Run(string[] args)
    {
        double seconds = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5;
        int readSize = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 256 * 1024;
        bool inline = args.Length <= 3 || args[3] != "pool";
        return RunAsync(seconds, readSize, inline).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(double seconds, int readSize, bool inline)
    {
        MemoryLink.CreatePair(out var linkA, out var linkB);
        using var targetA = new OffloadTarget(linkA);
        using var targetB = new OffloadTarget(linkB);
        var tcp = TcpConfig.Default with { ReceiveBufferSize = 4 << 20, Sack = true };
        using var a = new HostStack.HostStack(targetA, new HostStackOptions
        {
            Address = new Ipv4Address(198, 18, 0, 2), OffloadPolicy = OffloadPolicy.AfterHandshake,
            InlineReadCompletions = inline,
            Tcp = tcp, ReceiveBufferSize = 4 << 20, SendBufferSize = 4 << 20,
        });
        using var b = new HostStack.HostStack(targetB, new HostStackOptions
        {
            Address = new Ipv4Address(198, 18, 0, 1), OffloadPolicy = OffloadPolicy.AfterHandshake,
            Tcp = tcp, ReceiveBufferSize = 4 << 20, SendBufferSize = 4 << 20,
        });
        targetA.Start();
        targetB.Start();
        a.Start();
        b.Start();
        var listener = b.Listen(9);
        var accept = listener.AcceptAsync();
        var receiver = await a.ConnectAsync(new Ipv4Address(198, 18, 0, 1), 9);
        var sender = await accept;
        using var stop = new CancellationTokenSource();
        var data = new byte[256 * 1024];
        new Random(1).NextBytes(data);
        var write = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested) await sender.WriteAsync(data);
        });
        long received = 0;
        var read = Task.Run(async () =>
        {
            var buffer = new byte[readSize];
            while (!stop.IsCancellationRequested)
            {
                int n = await receiver.ReadAsync(buffer);
                if (n == 0) break;
                Interlocked.Add(ref received, n);
            }
        });
        await Task.Delay(2000);
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        long bytes0 = Interlocked.Read(ref received);
        var sw = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        long bytes = Interlocked.Read(ref received) - bytes0;
        double gib = bytes / (double)(1L << 30);
        Console.WriteLine($"hostrx read {readSize} {(inline ? "inline" : "pool")}: {bytes * 8 / sw.Elapsed.TotalSeconds / 1e9:F2} Gb/s, "
                          + $"{cpu / gib:F3} cpu-s/GiB (both ends), A {receiver.Location}, B {sender.Location}");
        stop.Cancel();
        receiver.Abort();
        sender.Abort();
        await Task.WhenAny(Task.WhenAll(write, read), Task.Delay(2000));
        return 0;
    }
}
