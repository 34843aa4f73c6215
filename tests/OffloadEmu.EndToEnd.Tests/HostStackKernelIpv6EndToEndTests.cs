using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using OffloadEmu.HostStack;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using Xunit.Abstractions;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// The host stack over IPv6 against the Linux kernel (privileged): neighbour discovery of the kernel (no static
/// neighbour on either side), the kernel's ping6 answered, an active open to socat's echo over IPv6 offloaded after
/// the handshake, 8 MiB each way with one upload → re-offload in the middle, SHA-256 equal, and the kernel's TCP and
/// ICMPv6 checksum error counters at 0. Its own lab (<see cref="Ipv6KernelLab"/>): the common
/// <see cref="TestNamespace"/> turns IPv6 off, this one needs it on.
/// </summary>
[Trait("Category", "Privileged")]
[Collection(KernelBulkTransfers.Name)]
public sealed class HostStackKernelIpv6EndToEndTests
{
    private const long EchoBytes = 8L * 1024 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly ITestOutputHelper _output;

    public HostStackKernelIpv6EndToEndTests(ITestOutputHelper output) => _output = output;

    /// <remarks>With <paramref name="segmentationOffload"/> the TAP is in segmentation-offload mode (TSO/LRO through the
    /// virtio-net header): our data goes as TCPV6 super-segments the kernel cuts (counted), byte-exact both ways.</remarks>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Resolves_the_kernel_by_neighbour_discovery_and_echoes_8_MiB_over_ipv6_with_an_upload_and_reoffload(bool segmentationOffload)
    {
        if (!Privileged.ShouldRun()) return;
        using var lab = new Ipv6KernelLab(segmentationOffload);
        var stack = lab.Stack!;
        var total = Stopwatch.StartNew();

        // ND: a solicitation to the kernel's solicited-node group, its advertisement gives the TAP's MAC.
        var mac = await stack.ResolveAsync(Ipv6KernelLab.KernelIp).WaitAsync(TimeSpan.FromSeconds(10));
        _output.WriteLine($"resolved {Ipv6KernelLab.KernelIp} to {mac} in {total.Elapsed.TotalMilliseconds:F1} ms");
        Assert.Equal(lab.KernelMac(), mac);

        // The kernel pings us with an empty neighbour table (our solicitation's entry flushed): it solicits our address
        // at our solicited-node group, we advertise (solicited, override), then echo.
        lab.Exec("ip", "-6", "neigh", "flush", "dev", lab.TapName);
        string ping = lab.Exec("ping", "-6", "-c", "1", "-W", "2", Ipv6KernelLab.OurIp.ToString());
        Assert.Contains("1 received", ping, StringComparison.Ordinal);
        string neighbour = lab.Exec("ip", "-6", "neigh", "show", Ipv6KernelLab.OurIp.ToString(), "dev", lab.TapName);
        _output.WriteLine($"kernel neighbour entry: {neighbour.Trim()}");
        Assert.Contains(lab.Target!.MacAddress.ToString().ToLowerInvariant(), neighbour.ToLowerInvariant(), StringComparison.Ordinal);
        Assert.Contains("REACHABLE", neighbour, StringComparison.Ordinal);   // confirmed by our solicited advertisement

        lab.StartEchoServer(7);
        using var cts = new CancellationTokenSource(Timeout);
        var socket = await stack.ConnectAsync(Ipv6KernelLab.KernelIp, 7, cts.Token).WaitAsync(cts.Token);
        Assert.True(socket.IsIpv6);
        var sw = Stopwatch.StartNew();
        while (socket.Location != ConnectionLocation.Offloaded)
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(5)) Assert.Fail($"not offloaded after the handshake: {socket.Location}");
            await Task.Delay(5, cts.Token);
        }

        using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var receivedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var transfer = Stopwatch.StartNew();
        var writer = Task.Run(async () =>
        {
            var pattern = new PseudoRandomPattern(0x1F6_E040UL);
            var buffer = new byte[256 * 1024];
            long written = 0;
            while (written < EchoBytes)
            {
                int n = (int)Math.Min(buffer.Length, EchoBytes - written);
                pattern.Fill(buffer.AsSpan(0, n));
                sentHash.AppendData(buffer, 0, n);
                await socket.WriteAsync(buffer.AsMemory(0, n), cts.Token);
                written += n;
                if (written == EchoBytes / 2)
                {
                    await socket.UploadAsync().WaitAsync(cts.Token);
                    Assert.Equal(ConnectionLocation.Host, socket.Location);
                    Assert.True(await socket.OffloadAsync().WaitAsync(cts.Token), "re-offload failed");
                }
            }
        }, cts.Token);
        _ = writer.ContinueWith(_ => cts.Cancel(), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        long received = await Task.Run(async () =>
        {
            var buffer = new byte[256 * 1024];
            long got = 0;
            while (got < EchoBytes)
            {
                if (writer.IsFaulted) await writer;
                int n = await socket.ReadAsync(buffer, cts.Token).AsTask().WaitAsync(cts.Token);
                if (n == 0) throw new EndOfStreamException($"EOF after {got} bytes");
                receivedHash.AppendData(buffer, 0, n);
                got += n;
            }
            return got;
        }, cts.Token);
        await writer;
        transfer.Stop();
        var stats = await socket.GetStatisticsAsync();
        await socket.ShutdownAsync().WaitAsync(cts.Token);
        Assert.Equal(0, await socket.ReadAsync(new byte[16], cts.Token).AsTask().WaitAsync(cts.Token));
        await socket.CloseAsync().WaitAsync(cts.Token);

        var s = stack.Statistics;
        _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{received / 1048576.0:F0} MiB each way in {transfer.Elapsed.TotalSeconds:F2} s; connection {stats.Offloads} offloads, {stats.Uploads} uploads; " +
            $"NS sent {s.NeighborSolicitationsSent}, NA sent {s.NeighborAdvertisementsSent}, echo replies {s.EchoRepliesSent}, dropped {s.FramesDropped} " +
            $"(extension headers {s.Ipv6ExtensionHeaderDrops}); target suppressed RSTs {lab.Target!.SuppressedResets}, dropped {lab.Target.DroppedFrames}; whole test {total.Elapsed.TotalSeconds:F2} s"));
        Assert.Equal(EchoBytes, received);
        Assert.Equal(Convert.ToHexString(sentHash.GetCurrentHash()), Convert.ToHexString(receivedHash.GetCurrentHash()));
        Assert.Equal(2, stats.Offloads);
        Assert.Equal(1, stats.Uploads);
        Assert.True(s.NeighborSolicitationsSent >= 1);
        Assert.True(s.EchoRepliesSent >= 1);
        Assert.True(s.NeighborAdvertisementsSent >= 1, "the kernel's solicitation was not answered");
        Assert.Equal(0L, lab.Target.SuppressedResets);
        Assert.Equal(0L, s.ResetsSent);
        var device = lab.Tap!.Statistics;
        _output.WriteLine($"segmentation offload {segmentationOffload}: device super-frames in {device.SuperFramesIn} out {device.SuperFramesOut}; " +
                          $"target super-frames in {lab.Target.SuperFramesIn} out {lab.Target.SuperFramesOut}, checksums trusted {lab.Target.ChecksumsTrusted}");
        Assert.Equal(segmentationOffload, lab.Target.SegmentationOffload);
        if (segmentationOffload)
        {
            Assert.True(device.SuperFramesOut > 0 && lab.Target.SuperFramesOut > 0, "no IPv6 super-segment went out");
            Assert.True(lab.Target.ChecksumsTrusted > 0);
        }
        else
        {
            Assert.Equal(0L, device.SuperFramesIn + device.SuperFramesOut);
        }

        // The kernel verified every frame we (host stack and target) sent.
        string nstat = lab.Exec("nstat", "-az", "TcpInCsumErrors", "Icmp6InCsumErrors", "TcpRetransSegs");
        _output.WriteLine("kernel nstat: " + Regex.Replace(nstat.Trim(), @"\s+", " "));
        foreach (var counter in new[] { "TcpInCsumErrors", "Icmp6InCsumErrors" })
        {
            var m = Regex.Match(nstat, $@"^{counter}\s+(\d+)", RegexOptions.Multiline);
            Assert.True(m.Success, $"nstat did not report {counter}:\n{nstat}");
            Assert.Equal("0", m.Groups[1].Value);
        }
    }

    /// <summary>
    /// Namespace oe-t-hs6&lt;tag&gt;&lt;pid&gt; with IPv6 on (DAD and router advertisements off, so the address is usable
    /// at once and no route appears), a TAP moved into it with the kernel at <see cref="KernelIp"/>/64, and the threaded
    /// target and host stack at <see cref="OurIp"/>. No IPv4, no route out. Dispose ends socat by PID, then the stack, the
    /// target, the TAP and the namespace.
    /// </summary>
    private sealed class Ipv6KernelLab : IDisposable
    {
        internal static readonly Ipv6Address KernelIp = Ipv6Address.Parse("fd00:198:18:246::1");
        internal static readonly Ipv6Address OurIp = Ipv6Address.Parse("fd00:198:18:246::2");

        private readonly List<Process> _processes = [];
        private bool _disposed;

        internal Ipv6KernelLab(bool segmentationOffload = false)
        {
            string tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
            Name = $"oe-t-hs6{tag}{Environment.ProcessId}";
            TapName = $"oehs6{Environment.ProcessId}";
            try
            {
                Cmd.TryRun("ip", "netns", "del", Name);
                Cmd.Run("ip", "netns", "add", Name);
                foreach (var scope in new[] { "all", "default" })
                {
                    Exec("sysctl", "-qw", $"net.ipv6.conf.{scope}.disable_ipv6=0");
                    Exec("sysctl", "-qw", $"net.ipv6.conf.{scope}.accept_dad=0");
                    Exec("sysctl", "-qw", $"net.ipv6.conf.{scope}.accept_ra=0");
                }
                Cmd.Run("ip", "-n", Name, "link", "set", "lo", "up");
                Tap = new TapDevice(new TapDeviceOptions { Name = TapName, SegmentationOffload = segmentationOffload });
                Cmd.Run("ip", "link", "set", TapName, "netns", Name);
                Exec("sysctl", "-qw", $"net.ipv6.conf.{TapName}.accept_dad=0");
                Exec("sysctl", "-qw", $"net.ipv6.conf.{TapName}.accept_ra=0");
                Exec("sysctl", "-qw", $"net.ipv6.conf.{TapName}.disable_ipv6=0");
                Cmd.Run("ip", "-n", Name, "-6", "addr", "add", $"{KernelIp}/64", "dev", TapName, "nodad");
                Cmd.Run("ip", "-n", Name, "link", "set", TapName, "up");
                Target = new OffloadTarget(Tap);
                Stack = new HostStack.HostStack(Target, new HostStackOptions
                {
                    // The IPv4 side is unused here (198.18.0.0/15 as the rules ask; nothing is sent over it).
                    Address = new Ipv4Address(198, 18, 247, 2),
                    PrefixLength = 24,
                    Address6 = OurIp,
                    PrefixLength6 = 64,
                    OffloadPolicy = OffloadPolicy.AfterHandshake,
                    Tcp = TcpConfig.Default with { ReceiveBufferSize = 1 << 20, Sack = true, Msl = TimeSpan.FromSeconds(1) },
                    ReceiveBufferSize = 1 << 20,
                    SendBufferSize = 1 << 20,
                });
                Target.Start();
                Stack.Start();
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        internal string Name { get; }
        internal string TapName { get; }
        internal TapDevice? Tap { get; }
        internal OffloadTarget? Target { get; }
        internal HostStack.HostStack? Stack { get; }

        internal string Exec(string file, params string[] args) => Cmd.Run("ip", new[] { "netns", "exec", Name, file }.Concat(args).ToArray());

        internal MacAddress KernelMac() => MacAddress.Parse(Exec("cat", $"/sys/class/net/{TapName}/address").Trim());

        /// <summary>socat echo (PIPE) on [<see cref="KernelIp"/>]:<paramref name="port"/>, waited for until it listens.</summary>
        internal void StartEchoServer(ushort port)
        {
            var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { "netns", "exec", Name, "socat", "-b", "4096", "-t", "10", $"TCP6-LISTEN:{port},bind=[{KernelIp}],reuseaddr", "PIPE" })
                psi.ArgumentList.Add(a);
            var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start socat");
            _processes.Add(p);
            p.BeginErrorReadLine();
            p.BeginOutputReadLine();
            var sw = Stopwatch.StartNew();
            while (!Exec("ss", "-Hltn", $"sport = :{port}").Contains($"[{KernelIp}]:{port}", StringComparison.Ordinal))
            {
                if (p.HasExited) Assert.Fail($"socat exited with {p.ExitCode}");
                if (sw.ElapsedMilliseconds > 5000) Assert.Fail($"socat is not listening on [{KernelIp}]:{port} after 5 s");
                Thread.Sleep(20);
            }
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var p in _processes)
            {
                try
                {
                    if (!p.HasExited)
                    {
                        Cmd.TryRun("kill", "-TERM", p.Id.ToString(CultureInfo.InvariantCulture));
                        if (!p.WaitForExit(2000)) Cmd.TryRun("kill", "-KILL", p.Id.ToString(CultureInfo.InvariantCulture));
                        p.WaitForExit(2000);
                    }
                }
                catch (InvalidOperationException) { }
                p.Dispose();
            }
            Stack?.Dispose();
            Target?.Dispose();
            Tap?.Dispose();
            Cmd.TryRun("ip", "netns", "del", Name);
        }
    }
}
