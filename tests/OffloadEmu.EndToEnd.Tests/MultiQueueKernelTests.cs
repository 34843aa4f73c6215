using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using OffloadEmu.HostStack;
using OffloadEmu.Wire;
using Xunit.Abstractions;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// Several link queues against the Linux kernel (docs/target.md, "Several link queues"): the target over a two-queue TAP
/// (IFF_MULTI_QUEUE) runs two engine loops; eight connections of the host stack to socat's echo in the kernel are
/// offloaded, hashed to both loops, and each moves its own stream byte-exact both ways, uploaded and offloaded again
/// half-way while the others run.
/// </summary>
[Trait("Category", "Privileged")]
public sealed class MultiQueueKernelTests(ITestOutputHelper output)
{
    private const int Connections = 8;
    private const long BytesEach = 4L * 1024 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private static Ipv4Address KernelIp => HostStackKernelLab.KernelIp;

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public async Task Eight_connections_on_the_loops_of_a_multi_queue_tap_echo_4_MiB_each_byte_exact(int queues)
    {
        if (!Privileged.ShouldRun()) return;
        // The host stack's ports are sequential from the offset: one whose eight ports the loop hash spreads over both
        // loops (at least three each), so the test does not depend on where random ports fall.
        int offset = SpreadOffset(queues);
        using var lab = new HostStackKernelLab(output, nameof(Eight_connections_on_the_loops_of_a_multi_queue_tap_echo_4_MiB_each_byte_exact),
            snapLength: 0, options: HostStackKernelLab.DefaultOptions() with { EphemeralPortOffset = offset }, queues: queues);
        Assert.Equal(queues, lab.Taps.Length);
        var target = lab.Target!;
        Assert.Equal(queues, target.QueueCount);
        // -b 4096: socat's blocking pipe writes stay within one page (a larger block deadlocks its echo, see HostStackKernelEndToEndTests).
        lab.StartListener(7, ",fork", "-b", "4096", "PIPE");
        using var cts = new CancellationTokenSource(Timeout);
        var sockets = new List<OffloadSocket>();
        for (int i = 0; i < Connections; i++)
        {
            var socket = await lab.Stack!.ConnectAsync(KernelIp, 7, cts.Token).WaitAsync(cts.Token);
            sockets.Add(socket);
        }
        foreach (var socket in sockets) await WaitFor(() => socket.Location == ConnectionLocation.Offloaded, cts.Token, $"offload of {socket}");
        int[] perLoop = target.LoopConnectionCounts();
        output.WriteLine($"connections per loop: {string.Join(", ", perLoop)}");
        Assert.Equal(Connections, perLoop.Sum());
        Assert.All(perLoop, n => Assert.True(n > 0, "a loop owns no connection: " + string.Join(", ", perLoop)));

        var sw = Stopwatch.StartNew();
        var handOvers = new int[1];
        var progress = new long[Connections];
        (string, string, long)[] results;
        try
        {
            results = await Task.WhenAll(sockets.Select((s, i) => Task.Run(() => EchoAsync(s, (ulong)(0xC0FFEE + i), progress, i, handOvers, cts), cts.Token)));
        }
        catch (OperationCanceledException)
        {
            output.WriteLine($"stalled: received {string.Join(", ", progress)}; handed over {target.HandedOffFrames}, dropped {target.DroppedFrames}");
            var (snapshot, _) = await target.SnapshotConnectionsAsync(16).WaitAsync(TimeSpan.FromSeconds(5));
            foreach (var c in snapshot)
                output.WriteLine($"  {c.LocalPort}: {c.State} SndUna {c.SndUna} SndNxt {c.SndNxt} RcvNxt {c.RcvNxt} SndWnd {c.SndWnd} RcvWnd {c.RcvWnd} " +
                                 $"queued {c.SendQueued} buffered {c.ReceiveBuffered} rexmit {c.RetransmittedSegments} backoff {c.RetransmitBackoff}");
            foreach (var q in lab.Taps) output.WriteLine($"  queue {q.Statistics}");
            throw;
        }
        sw.Stop();
        Assert.Equal(Connections, handOvers[0]);
        foreach (var (sent, received, bytes) in results)
        {
            Assert.Equal(BytesEach, bytes);
            Assert.Equal(sent, received);
        }
        foreach (var socket in sockets)
        {
            await socket.ShutdownAsync().WaitAsync(cts.Token);
            await socket.CloseAsync().WaitAsync(cts.Token);
        }
        var tcp = target.QueryTcpStatistics(false);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Connections} x {BytesEach / 1048576} MiB echoed (each uploaded and offloaded again half-way) in {sw.Elapsed.TotalSeconds:F2} s = {Connections * BytesEach / 1048576.0 / sw.Elapsed.TotalSeconds:F1} MiB/s each way; " +
            $"frames handed between loops {target.HandedOffFrames} (dropped {target.HandOffDrops}); target in {tcp.InSegments} out {tcp.OutSegments} " +
            $"retransmitted {tcp.RetransmittedSegments}; {string.Join("; ", lab.Taps.Select((q, i) => $"queue {i} {q.Statistics}"))}; load {File.ReadAllText("/proc/loadavg").Trim()}"));
        // Both queues carried frames both ways (the kernel spreads its frames by flow; we send each connection's on its loop's queue).
        foreach (var q in lab.Taps) Assert.True(q.Statistics.FramesIn > 0 && q.Statistics.FramesOut > 0, $"queue {q.Statistics} idle");
        Assert.Equal(0L, target.DroppedFrames);
        Assert.Equal(0L, target.SuppressedResets);
        lab.AssertNoKernelChecksumErrors();
    }

    private static async Task<(string Sent, string Received, long Bytes)> EchoAsync(OffloadSocket socket, ulong seed, long[] progress, int index, int[] handOvers, CancellationTokenSource cts)
    {
        using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var receivedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var writer = Task.Run(async () =>
        {
            var pattern = new PseudoRandomPattern(seed);
            var buffer = new byte[64 * 1024];
            long written = 0;
            while (written < BytesEach)
            {
                int n = (int)Math.Min(buffer.Length, BytesEach - written);
                pattern.Fill(buffer.AsSpan(0, n));
                sentHash.AppendData(buffer, 0, n);
                await socket.WriteAsync(buffer.AsMemory(0, n), cts.Token);
                written += n;
                if (written == BytesEach / 2)
                {
                    // Mid-transfer hand-over: a terminate and an initiate (tree operations on loop 0, every other loop
                    // parked) while the other connections keep moving data on both loops.
                    await socket.UploadAsync().WaitAsync(cts.Token);
                    Assert.Equal(ConnectionLocation.Host, socket.Location);
                    Assert.True(await socket.OffloadAsync().WaitAsync(cts.Token), "re-offload failed");
                    Interlocked.Increment(ref handOvers[0]);
                }
            }
        }, cts.Token);
        _ = writer.ContinueWith(_ => cts.Cancel(), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        var readBuffer = new byte[64 * 1024];
        long got = 0;
        while (got < BytesEach)
        {
            if (writer.IsFaulted) await writer;
            int n = await socket.ReadAsync(readBuffer, cts.Token).AsTask().WaitAsync(cts.Token);
            if (n == 0) throw new EndOfStreamException($"EOF after {got} bytes");
            receivedHash.AppendData(readBuffer, 0, n);
            got += n;
            Volatile.Write(ref progress[index], got);
        }
        await writer;
        return (Convert.ToHexString(sentHash.GetHashAndReset()), Convert.ToHexString(receivedHash.GetHashAndReset()), got);
    }

    private static int SpreadOffset(int queues)
    {
        var defaults = HostStackKernelLab.DefaultOptions();
        var kernel = new Chimney.State.IpAddressValue(KernelIp);
        var ours = new Chimney.State.IpAddressValue(HostStackKernelLab.OurIp);
        int start = 1000 + Environment.ProcessId % 10000;
        for (int offset = start; ; offset++)
        {
            var counts = new int[queues];
            for (int i = 0; i < Connections; i++)
                counts[Target.LoopHash.LoopOf(new Target.ConnectionKey(kernel, ours, 7, (ushort)(defaults.EphemeralPortStart + offset + i)), queues)]++;
            if (counts.Min() >= Math.Min(3, Connections / queues)) return offset;
        }
    }

    private static async Task WaitFor(Func<bool> condition, CancellationToken token, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(10)) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(5, token);
        }
    }
}
