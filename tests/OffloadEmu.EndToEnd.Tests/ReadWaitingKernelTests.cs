using System.Security.Cryptography;
using OffloadEmu.HostStack;
using OffloadEmu.Wire;
using Xunit.Abstractions;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// Kernel → us with the application waiting in its reads (no cancellable token, inline continuations, as the CLI's), so
/// indications and completed posts go straight into the read's buffer (<see cref="ReceiveQueue.Append"/>): 24 MiB from a
/// kernel client byte-exact, in the default mode, in the default mode with delay, reordering and loss between the TAP
/// and the target, and in segmentation-offload mode with reads and posts smaller than the kernel's 64 KiB
/// super-segments. Privileged; lab namespace oe-t-rw* (<see cref="HostStackKernelLab"/>, 198.18.246.0/24, no route out).
/// </summary>
[Trait("Category", "Privileged")]
[Collection(KernelBulkTransfers.Name)]
public sealed class ReadWaitingKernelTests(ITestOutputHelper output)
{
    private const long Bytes = 24L * 1024 * 1024;

    [Theory]
    [InlineData(false, null, 256 * 1024, false)]
    [InlineData(false, "delay 1ms reorder 5% loss 0.3%", 100_000, false)]
    [InlineData(true, null, 40_000, false)]
    // HostStackOptions.IndicationsOnly: no post per waiting read; every byte reaches the reads through indications.
    [InlineData(false, "delay 1ms reorder 5% loss 0.3%", 100_000, true)]
    [InlineData(true, null, 40_000, true)]
    public async Task Kernel_to_us_with_reads_waiting_is_byte_exact(bool segmentationOffload, string? impairment, int readSize, bool indicationsOnly)
    {
        if (!Privileged.ShouldRun()) return;
        var options = HostStackKernelLab.DefaultOptions() with { InlineReadCompletions = true, IndicationsOnly = indicationsOnly };
        using var lab = new HostStackKernelLab(output, nameof(Kernel_to_us_with_reads_waiting_is_byte_exact), snapLength: 0,
            options: options, impairment: impairment, impairmentSeed: 0x1E47UL, segmentationOffload: segmentationOffload, namespacePrefix: "oe-t-rw");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        string source = lab.TempFile("source");
        string expected = WritePattern(source, 0x4C45_4E54UL);
        const ushort port = 5003;
        var listener = lab.Stack!.Listen(port);
        var accept = listener.AcceptAsync(cts.Token);
        var client = lab.StartInNamespace("socat", "-u", "-b", "65536", $"FILE:{source}",
            $"TCP:{HostStackKernelLab.OurIp}:{port},bind={HostStackKernelLab.KernelIp}");
        var socket = await accept.WaitAsync(cts.Token);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[readSize];
        long got = 0;
        while (true)
        {
            // No token on the read itself (as the CLI's); the wait has the test's timeout.
            int n = await socket.ReadAsync(buffer).AsTask().WaitAsync(cts.Token);
            if (n == 0) break;
            hash.AppendData(buffer, 0, n);
            got += n;
        }
        Assert.True(client.WaitForExit(10_000), "the kernel client did not exit");
        await socket.CloseAsync().WaitAsync(cts.Token);
        listener.Stop();
        var stats = lab.Stack.Statistics;
        output.WriteLine($"{got} bytes, {stats.DirectCompletions} direct completions, {lab.Target!.SuperFramesIn} super-frames in");
        Assert.Equal(Bytes, got);
        Assert.Equal(expected, Convert.ToHexString(hash.GetCurrentHash()));
        if (segmentationOffload) Assert.True(lab.Target.SuperFramesIn > 0, "no super-frame came in");
        output.WriteLine($"receive buffers posted: {stats.ReceiveBufferPosts}");
        if (indicationsOnly) Assert.Equal(0L, stats.ReceiveBufferPosts);
        else Assert.True(stats.ReceiveBufferPosts > 0, "no read posted its buffer");
    }

    private static string WritePattern(string path, ulong seed)
    {
        var pattern = new PseudoRandomPattern(seed);
        var chunk = new byte[1 << 20];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var fs = File.Create(path);
        for (long done = 0; done < Bytes; done += chunk.Length)
        {
            pattern.Fill(chunk);
            hash.AppendData(chunk);
            fs.Write(chunk);
        }
        return Convert.ToHexString(hash.GetCurrentHash());
    }
}
