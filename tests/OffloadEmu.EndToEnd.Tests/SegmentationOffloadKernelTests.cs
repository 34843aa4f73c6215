using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using OffloadEmu.HostStack;
using OffloadEmu.Link.Capture;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Wire;
using Xunit.Abstractions;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// Segmentation-offload mode against the Linux kernel (privileged): the host stack over the real target on a TAP opened
/// with TUNSETOFFLOAD, 32 MiB each way byte-exact, super-frames seen both ways in the device and target counters, our
/// pcapng says so in its interface description and opens in tshark with no malformed frame. Lab: namespace oe-t-tso*
/// (<see cref="HostStackKernelLab"/>, 198.18.246.0/24, no route out).
/// </summary>
[Trait("Category", "Privileged")]
[Collection(KernelBulkTransfers.Name)]
public sealed class SegmentationOffloadKernelTests
{
    private const long Bytes = 32L * 1024 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private static Ipv4Address KernelIp => HostStackKernelLab.KernelIp;
    private static string OurIpText => HostStackKernelLab.OurIp.ToString();

    private readonly ITestOutputHelper _output;

    public SegmentationOffloadKernelTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Moves_32_MiB_each_way_as_super_segments_byte_exact_with_a_capture_that_says_so()
    {
        if (!Privileged.ShouldRun()) return;
        string capture = Path.Combine(Path.GetTempPath(), $"oe-tso-{Environment.ProcessId}-{Guid.NewGuid():N}.pcapng");
        try
        {
            using var lab = new HostStackKernelLab(_output, nameof(Moves_32_MiB_each_way_as_super_segments_byte_exact_with_a_capture_that_says_so),
                snapLength: 0, segmentationOffload: true, namespacePrefix: "oe-t-tso", captureFile: capture, captureSnapLength: 256);
            Assert.True(lab.Target!.SegmentationOffload);
            using var cts = new CancellationTokenSource(Timeout);

            // Kernel -> us: a kernel client sends a file to our listener.
            const ushort port = 5001;
            string source = lab.TempFile("source");
            string expectedIn = WritePattern(source, 0x7350_0FF1UL);
            var listener = lab.Stack!.Listen(port);
            var accept = listener.AcceptAsync(cts.Token);
            var sw = Stopwatch.StartNew();
            var client = lab.StartInNamespace("socat", "-u", "-b", "65536", $"FILE:{source}", $"TCP:{OurIpText}:{port},bind={KernelIp}");
            var socket = await accept.WaitAsync(cts.Token);
            using var receivedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[256 * 1024];
            long got = 0;
            while (true)
            {
                int n = await socket.ReadAsync(buffer, cts.Token).AsTask().WaitAsync(cts.Token);
                if (n == 0) break;
                receivedHash.AppendData(buffer, 0, n);
                got += n;
            }
            double inSeconds = sw.Elapsed.TotalSeconds;
            Assert.True(client.WaitForExit(10_000), "the kernel client did not exit");
            await socket.CloseAsync().WaitAsync(cts.Token);
            listener.Stop();
            Assert.Equal(Bytes, got);
            Assert.Equal(expectedIn, Convert.ToHexString(receivedHash.GetCurrentHash()));

            // Us -> kernel: we send to a kernel sink that writes a file.
            string sink = lab.TempFile("sink");
            lab.StartListener(9, "", "-u", "-b", "65536", $"CREATE:{sink}");
            sw.Restart();
            var outSocket = await lab.Stack.ConnectAsync(KernelIp, 9, cts.Token).WaitAsync(cts.Token);
            using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var pattern = new PseudoRandomPattern(0x7350_0FF2UL);
            for (long written = 0; written < Bytes; written += buffer.Length)
            {
                pattern.Fill(buffer);
                sentHash.AppendData(buffer);
                await outSocket.WriteAsync(buffer, cts.Token);
            }
            await outSocket.ShutdownAsync().WaitAsync(cts.Token);
            Assert.Equal(0, await outSocket.ReadAsync(new byte[16], cts.Token).AsTask().WaitAsync(cts.Token));
            double outSeconds = sw.Elapsed.TotalSeconds;
            await outSocket.CloseAsync().WaitAsync(cts.Token);
            var deadline = Stopwatch.StartNew();
            while (new FileInfo(sink).Length < Bytes && deadline.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(20, cts.Token);
            using (var fs = File.OpenRead(sink))
                Assert.Equal(Convert.ToHexString(sentHash.GetCurrentHash()), Convert.ToHexString(SHA256.HashData(fs)));

            _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"kernel -> us {Bytes / 1048576} MiB in {inSeconds:F2} s, us -> kernel in {outSeconds:F2} s; load {File.ReadAllText("/proc/loadavg").Trim()}"));
            lab.WriteSummary();
            var device = lab.Tap!.Statistics;
            _output.WriteLine($"device super-frames in {device.SuperFramesIn} out {device.SuperFramesOut}; target super-frames in {lab.Target.SuperFramesIn} " +
                              $"out {lab.Target.SuperFramesOut}, checksums trusted {lab.Target.ChecksumsTrusted}");
            // Frames larger than one segment crossed the TAP both ways, and the target handled them as such.
            Assert.True(device.SuperFramesIn > 0, "the kernel handed over no super-frame");
            Assert.True(device.SuperFramesOut > 0, "we sent no super-segment");
            Assert.True(lab.Target.SuperFramesIn > 0);
            Assert.True(lab.Target.SuperFramesOut > 0);
            Assert.True(lab.Target.ChecksumsTrusted > 0);
            Assert.Equal(0L, device.Drops(OffloadEmu.Link.DropReason.BadOffloadHeader));
            lab.AssertNoDrops();
            lab.AssertNoKernelChecksumErrors();

            lab.OurCapture!.Flush();
            var reader = CaptureReader.Open(File.OpenRead(capture));
            int records = reader.ReadAll().Count();
            Assert.True(records > 100, $"{records} records");
            Assert.Contains("segmentation offload on", reader.Interfaces[0].Description ?? "", StringComparison.Ordinal);
            // What Wireshark shows as the frame's interface description.
            Assert.Equal(CaptureDevice.SegmentationOffloadDescription,
                Cmd.Run("tshark", "-r", capture, "-c", "1", "-T", "fields", "-e", "frame.interface_description").Trim());
            Assert.Equal(0, Tshark.Count(capture, "_ws.malformed"));
            Assert.True(Tshark.Count(capture, $"ip.src == {OurIpText} && frame.len > 1514") > 0, "no super-segment from us in the capture");
            Assert.True(Tshark.Count(capture, $"ip.src == {KernelIp} && frame.len > 1514") > 0, "no super-frame from the kernel in the capture");
        }
        finally
        {
            try { File.Delete(capture); } catch (IOException) { }
        }
    }

    private static string WritePattern(string path, ulong seed)
    {
        var pattern = new PseudoRandomPattern(seed);
        var buffer = new byte[1 << 20];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var fs = File.Create(path);
        for (long done = 0; done < Bytes; done += buffer.Length)
        {
            pattern.Fill(buffer);
            hash.AppendData(buffer);
            fs.Write(buffer);
        }
        return Convert.ToHexString(hash.GetCurrentHash());
    }
}
