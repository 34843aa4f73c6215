using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using OffloadEmu.HostStack;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using Xunit.Abstractions;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// One lab for a <see cref="HostStackKernelEndToEndTests"/> test: namespace oe-t-hs&lt;tag&gt;&lt;pid&gt; (IPv6 off, CUBIC, no
/// route beyond its /24 of 198.18.246.0), a TAP moved into it with the kernel at <see cref="KernelIp"/>, tcpdump on the
/// TAP, and the real <see cref="OffloadTarget"/> (threaded) on the TAP under a threaded <see cref="HostStack"/> at
/// <see cref="OurIp"/>. Kernel-side programs (socat) are started in the namespace and ended by PID. Dispose ends
/// everything it started, by PID, then the stack, the target, tcpdump, the TAP and the namespace.
/// </summary>
internal sealed class HostStackKernelLab : IDisposable
{
    internal static readonly Ipv4Address KernelIp = new(198, 18, 246, 1);
    internal static readonly Ipv4Address OurIp = new(198, 18, 246, 2);

    private readonly ITestOutputHelper _output;
    private readonly List<Process> _processes = [];
    private readonly List<string> _files = [];
    private readonly string _testName;
    private bool _keepCapture;
    private bool _disposed;

    /// <param name="output">The test's output.</param>
    /// <param name="testName">Names kept artifacts.</param>
    /// <param name="snapLength">tcpdump's snap length; 0: no capture.</param>
    /// <param name="options">The host stack's options (<see cref="DefaultOptions"/> when null).</param>
    /// <param name="targetOptions">The target's options (its defaults when null).</param>
    /// <param name="impairment">netem-style impairment applied both ways by an <see cref="ImpairmentDevice"/> between the TAP
    /// and the target (null: none).</param>
    /// <param name="impairmentSeed">Seed of the impairment's decisions.</param>
    /// <param name="stackLogger">The host stack's logger (none when null).</param>
    /// <param name="queues">TAP queues (IFF_MULTI_QUEUE) and target engine loops; 1: an ordinary TAP.</param>
    /// <param name="segmentationOffload">Open the TAP in segmentation-offload mode (TSO/LRO through the virtio-net header).</param>
    /// <param name="namespacePrefix">The lab namespace's prefix (oe-t-*).</param>
    /// <param name="captureFile">A pcapng our <see cref="CaptureDevice"/> writes between the TAP and the target (null: none).</param>
    /// <param name="captureSnapLength">Its snap length.</param>
    internal HostStackKernelLab(ITestOutputHelper output, string testName, int snapLength, HostStackOptions? options = null,
        OffloadTargetOptions? targetOptions = null, string? impairment = null, ulong impairmentSeed = 0,
        Microsoft.Extensions.Logging.ILogger? stackLogger = null, int queues = 1, bool segmentationOffload = false,
        string namespacePrefix = "oe-t-hs", string? captureFile = null, int captureSnapLength = 262144)
    {
        _output = output;
        _testName = testName;
        string tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
        Namespace = new TestNamespace(tag, prefix: namespacePrefix);
        try
        {
            TapName = $"oehs{Environment.ProcessId}";
            // Several queues: one multi-queue TAP, every queue attached before the TAP moves into the namespace.
            Taps = TapDevice.OpenQueues(new TapDeviceOptions { Name = TapName, SegmentationOffload = segmentationOffload }, queues, out string? refusal);
            if (refusal is not null) _output.WriteLine($"TAP queues: {Taps.Length} of {queues} ({refusal})");
            Tap = Taps[0];
            Cmd.Run("ip", "link", "set", TapName, "netns", Namespace.Name);
            Namespace.ConfigureInside(TapName, $"{KernelIp}/24");
            Cmd.TryRun("ip", "netns", "exec", Namespace.Name, "sysctl", "-qw", "net.ipv4.tcp_congestion_control=cubic");
            Capture = snapLength > 0 ? new TcpdumpCapture(Namespace.Name, TapName, snapLength) : null;
            if (impairment is not null) Impairment = new ImpairmentDevice(Tap, impairment, impairment, impairmentSeed);
            if (captureFile is not null)
                OurCapture = new CaptureDevice(Impairment ?? (OffloadEmu.Link.ILinkDevice)Tap, captureFile,
                    new CaptureOptions { Format = OffloadEmu.Link.Capture.CaptureFormat.PcapNg, SnapLength = captureSnapLength });
            Target = Taps.Length > 1 && Impairment is null && OurCapture is null
                ? new OffloadTarget(Taps, targetOptions)
                : new OffloadTarget(OurCapture ?? Impairment ?? (OffloadEmu.Link.ILinkDevice)Tap, targetOptions);
            Stack = new HostStack.HostStack(Target, options ?? DefaultOptions(), stackLogger);
            Target.Start();
            Stack.Start();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    internal static HostStackOptions DefaultOptions() => new()
    {
        Address = OurIp,
        PrefixLength = 24,
        OffloadPolicy = OffloadPolicy.AfterHandshake,
        Tcp = TcpConfig.Default with { ReceiveBufferSize = 1 << 20, Sack = true, Msl = TimeSpan.FromSeconds(1) },
        ReceiveBufferSize = 1 << 20,
        SendBufferSize = 1 << 20,
    };

    internal TestNamespace Namespace { get; }
    internal string TapName { get; } = "";
    internal TapDevice? Tap { get; }

    /// <summary>Every queue of the TAP (one unless the lab was made with several).</summary>
    internal TapDevice[] Taps { get; } = [];
    internal TcpdumpCapture? Capture { get; }

    /// <summary>Our own capture between the TAP (or impairment) and the target (null: none).</summary>
    internal CaptureDevice? OurCapture { get; }

    /// <summary>The impairment between the TAP and the target (null: none); disposed with the target's device.</summary>
    internal ImpairmentDevice? Impairment { get; }
    internal OffloadTarget? Target { get; }
    internal HostStack.HostStack? Stack { get; }

    /// <summary>Hand-overs (Unix seconds, the capture's clock): upload started → re-offload completed.</summary>
    internal List<(double Start, double End)> HandOvers { get; } = [];

    internal static double UnixSeconds() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>The kernel's MAC on the TAP (as the namespace reports it).</summary>
    internal MacAddress KernelMac()
    {
        string text = Namespace.Exec("cat", $"/sys/class/net/{TapName}/address").Trim();
        return MacAddress.Parse(text);
    }

    /// <summary>Starts a program in the namespace ("ip netns exec" execs it in place: the PID is its own).</summary>
    internal Process StartInNamespace(params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "netns", "exec", Namespace.Name }.Concat(args)) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {args[0]}");
        _processes.Add(p);
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return p;
    }

    /// <summary>Starts a socat listener on <paramref name="port"/> in the namespace and waits until it listens.</summary>
    internal Process StartListener(ushort port, string listenOptions, params string[] rest)
    {
        var p = StartInNamespace(new[] { "socat" }.Concat(rest.Take(rest.Length - 1))
            .Concat([$"TCP-LISTEN:{port},bind={KernelIp},reuseaddr{listenOptions}", rest[^1]]).ToArray());
        var sw = Stopwatch.StartNew();
        while (!Cmd.Run("ip", "netns", "exec", Namespace.Name, "ss", "-Hltn", $"sport = :{port}").Contains($"{KernelIp}:{port}", StringComparison.Ordinal))
        {
            if (p.HasExited) Assert.Fail($"socat exited with {p.ExitCode}");
            if (sw.ElapsedMilliseconds > 5000) Assert.Fail($"socat is not listening on {KernelIp}:{port} after 5 s");
            Thread.Sleep(20);
        }
        return p;
    }

    /// <summary>Sends <paramref name="signal"/> to a process this lab started, by its PID.</summary>
    internal static void Signal(Process p, string signal)
    {
        if (!p.HasExited) Cmd.TryRun("kill", "-" + signal, p.Id.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>A file this lab deletes on dispose.</summary>
    internal string TempFile(string name)
    {
        string path = Path.Combine(Path.GetTempPath(), $"oe-hs-{name}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        _files.Add(path);
        return path;
    }

    internal void WriteSummary()
    {
        var t = Target!;
        var tcpStats = t.QueryTcpStatistics(false);
        var s = Stack!.Statistics;
        _output.WriteLine($"target: in {tcpStats.InSegments} out {tcpStats.OutSegments} retransmitted {tcpStats.RetransmittedSegments} in errors {tcpStats.InErrors} " +
                          $"resets out {tcpStats.OutResets}; suppressed RSTs {t.SuppressedResets}, frames up {t.FramesUp}, dropped {t.DroppedFrames}; device {Tap!.Statistics}");
        _output.WriteLine($"stack: offloads {s.OffloadsSucceeded} (failed {s.OffloadsFailed}), uploads {s.Uploads}, forwarded {s.SegmentsForwarded}, " +
                          $"ARP requests {s.ArpRequestsSent} replies {s.ArpRepliesSent}, RSTs sent {s.ResetsSent}, frames in {s.FramesReceived} out {s.FramesSent} dropped {s.FramesDropped}");
    }

    /// <summary>Nothing dropped by the target or the device, no RST the TCP machine wanted and the target suppressed.</summary>
    internal void AssertNoDrops()
    {
        Assert.Equal(0L, Target!.SuppressedResets);
        Assert.Equal(0L, Target.DroppedFrames);
        Assert.Equal(0L, Tap!.Statistics.TotalDrops);
    }

    /// <summary>The kernel verified every frame we sent: its checksum error counters stay 0 (pitfall 4).</summary>
    internal void AssertNoKernelChecksumErrors()
    {
        string nstat = Namespace.Exec("nstat", "-az", "TcpInCsumErrors", "IpExtInCsumErrors", "TcpRetransSegs");
        _output.WriteLine("kernel nstat: " + Regex.Replace(nstat.Trim(), @"\s+", " "));
        foreach (var counter in new[] { "TcpInCsumErrors", "IpExtInCsumErrors" })
        {
            var m = Regex.Match(nstat, $@"^{counter}\s+(\d+)", RegexOptions.Multiline);
            Assert.True(m.Success, $"nstat did not report {counter}:\n{nstat}");
            Assert.Equal("0", m.Groups[1].Value);
        }
    }

    /// <summary>Stops tcpdump once its file holds every frame the TAP carried (it lags the wire on a loaded machine; at
    /// most 5 s more) and returns the pcap path.</summary>
    internal string StopCapture()
    {
        long frames = Tap!.Statistics.FramesIn + Tap.Statistics.FramesOut;
        Capture!.Stop((int)Math.Min(frames, int.MaxValue));
        return Capture.FilePath;
    }

    /// <summary>Keep the capture in out/test-artifacts when the test fails (or OFFLOADEMU_KEEP_CAPTURE=1).</summary>
    internal void KeepCaptureUnlessPassed(bool passed) => _keepCapture = !passed || Environment.GetEnvironmentVariable("OFFLOADEMU_KEEP_CAPTURE") == "1";

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
                    Signal(p, "TERM");
                    if (!p.WaitForExit(2000)) Signal(p, "KILL");
                    p.WaitForExit(2000);
                }
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
        Stack?.Dispose();
        Target?.Dispose();
        if (Capture is { } capture)
        {
            try { capture.Stop(); } catch (InvalidOperationException) { }
            if (_keepCapture) KeepArtifact(capture.FilePath);
            capture.Dispose();
        }
        OurCapture?.Dispose();
        Impairment?.Dispose();   // held frames discarded (it closes the TAP too)
        foreach (var queue in Taps) queue.Dispose();
        Tap?.Dispose();
        Namespace.Dispose();
        foreach (var f in _files)
        {
            try { File.Delete(f); } catch (IOException) { }
        }
    }

    private void KeepArtifact(string path)
    {
        if (!File.Exists(path)) return;
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "OffloadEmu.sln"))) dir = dir.Parent;
        string outDir = Path.Combine(dir?.FullName ?? Directory.GetCurrentDirectory(), "out", "test-artifacts");
        Directory.CreateDirectory(outDir);
        string target = Path.Combine(outDir, $"{nameof(HostStackKernelEndToEndTests)}.{_testName}.pcap");
        File.Copy(path, target, overwrite: true);
        _output.WriteLine($"capture kept: {target}");
    }
}
