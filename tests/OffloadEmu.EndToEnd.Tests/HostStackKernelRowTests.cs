using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.HostStack;
using OffloadEmu.Target;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using Xunit.Abstractions;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// Spec §10 rows that need the Linux kernel doing something on purpose, through the host stack over the real target on a
/// TAP (<see cref="HostStackKernelLab"/>):
/// <list type="bullet">
/// <item>Row 22 (retransmit limit): an nft rule in the kernel's namespace drops our segments; the target retransmits
/// TcpMaximumRetransmissions times with back-off, then raises Retrieve(TimeoutExpiration); the host uploads it and, under
/// the same limit, times the connection out at once (the application's read fails with TimedOut).</item>
/// <item>Row 39 (cached updates, path MTU half): the kernel routes to a second namespace over a route locked at MTU 1280
/// and answers our full-sized DF segments with ICMP fragmentation-needed; the host stack pushes the new path MTU to the
/// target (UpdateOffload), later segments fit, nothing is lost.</item>
/// <item>Row 42 (query): QueryOffloadState of the offloaded connection agrees with the kernel's own view (`ss -ti`:
/// bytes_received is our SndUna − ISS − 1, bytes_acked our RcvNxt − IRS − 1; the ISNs read from the capture).</item>
/// <item>Row 55 (reachability): an nft rule drops the kernel's segments to us (ARP still flows) for longer than
/// NceStaleTicks while we send; the target asks the host about the neighbour before sending on (at most one query per
/// NceStaleTicks, the host's "stale" answer muting repeats), the host verifies with unicast ARP, nothing is invalidated,
/// and the stream completes byte-exact when the rule is removed.</item>
/// </list>
/// </summary>
[Trait("Category", "Privileged")]
[Collection(KernelBulkTransfers.Name)]
public sealed class HostStackKernelRowTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static Ipv4Address KernelIp => HostStackKernelLab.KernelIp;
    private static Ipv4Address OurIp => HostStackKernelLab.OurIp;
    private readonly ITestOutputHelper _output;

    public HostStackKernelRowTests(ITestOutputHelper output) => _output = output;

    // ---- row 22 -------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Row22_a_blackholed_kernel_makes_the_target_ask_for_an_upload_after_its_retransmissions()
    {
        if (!Privileged.ShouldRun()) return;
        const byte maxRetransmissions = 2;
        var parameters = OffloadParameters.Default with { TcpMaximumRetransmissions = maxRetransmissions, TcpDoubtReachabilityRetransmissions = 1 };
        var options = HostStackKernelLab.DefaultOptions() with { OffloadParameters = parameters };
        using var lab = new HostStackKernelLab(_output, nameof(Row22_a_blackholed_kernel_makes_the_target_ask_for_an_upload_after_its_retransmissions),
            snapLength: 96, options, new OffloadTargetOptions { Parameters = parameters });
        bool passed = false;
        try
        {
            lab.StartListener(7, "", "-b", "4096", "-t", "10", "PIPE");
            using var cts = new CancellationTokenSource(Timeout);
            var socket = await ConnectOffloaded(lab, KernelIp, cts.Token);
            using var echo = new EchoCheck(socket, seed: 0x22);
            await echo.Exchange(1 << 20, cts.Token);   // warm: an RTT estimate, the window open

            var before = lab.Target!.QueryTcpStatistics(false);
            Blackhole(lab, "input", $"ip saddr {OurIp} tcp dport 7");
            var sw = Stopwatch.StartNew();
            var write = echo.Write(64 * 1024, cts.Token);
            await WaitFor(() => lab.Stack!.Statistics.TargetRetrieves > 0, cts.Token, "the target's Retrieve event", 40);
            double retrieveAfter = sw.Elapsed.TotalSeconds;
            var afterRetrieve = lab.Target.QueryTcpStatistics(false);
            _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Retrieve({lab.Stack!.Statistics.LastTargetRetrieveReason}) {retrieveAfter:F2} s into the blackhole; target retransmitted " +
                $"{afterRetrieve.RetransmittedSegments - before.RetransmittedSegments} segments meanwhile"));
            Assert.Equal(TcpUploadReason.TimeoutExpiration, lab.Stack.Statistics.LastTargetRetrieveReason);
            Assert.Equal(1L, lab.Stack.Statistics.TargetRetrieves);
            // RFC 6298 back-off from the 1 s minimum RTO: timeouts at 1, 1+2 and 1+2+4 s; the third exceeds the limit of 2.
            Assert.InRange(retrieveAfter, 6.0, 20.0);
            Assert.True(afterRetrieve.RetransmittedSegments - before.RetransmittedSegments >= maxRetransmissions,
                "the target did not retransmit before giving up");

            // The host continues the connection under the same limit (its TCP config takes TcpMaximumRetransmissions from
            // the same parameters): the uploaded state says the timer expired, so the connection times out at once and
            // the application hears it, instead of waiting forever for an ACK (what happened before the fix).
            await write.WaitAsync(cts.Token);
            var failure = await Assert.ThrowsAsync<IOException>(() => echo.ReadEcho(cts.Token));
            double failedAfter = sw.Elapsed.TotalSeconds;
            _output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"read failed {failedAfter - retrieveAfter:F2} s after the Retrieve: {failure.Message}"));
            var socketError = Assert.IsType<System.Net.Sockets.SocketException>(failure.InnerException);
            Assert.Equal(System.Net.Sockets.SocketError.TimedOut, socketError.SocketErrorCode);
            Assert.True(failedAfter - retrieveAfter < 3.0, "the host did not time the connection out promptly after the upload");
            Assert.Equal(1L, lab.Stack.Statistics.Uploads);
            lab.WriteSummary();
            Assert.Equal(0L, lab.Target.SuppressedResets);
            passed = true;
        }
        finally
        {
            Unblackhole(lab);
            lab.KeepCaptureUnlessPassed(passed);
        }
    }

    // ---- row 39 (path MTU) --------------------------------------------------------------------------------------------

    [Fact]
    public async Task Row39_the_kernels_fragmentation_needed_shrinks_the_offloaded_segments()
    {
        if (!Privileged.ShouldRun()) return;
        var farIp = new Ipv4Address(198, 18, 247, 2);
        var options = HostStackKernelLab.DefaultOptions() with { Gateway = KernelIp };
        using var lab = new HostStackKernelLab(_output, nameof(Row39_the_kernels_fragmentation_needed_shrinks_the_offloaded_segments),
            snapLength: 96, options);
        string tag = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
        using var far = new TestNamespace(tag, prefix: "oe-t-far");
        string vethLab = $"oefa{Environment.ProcessId % 100000}", vethFar = $"oefb{Environment.ProcessId % 100000}";
        Process? server = null;
        bool passed = false;
        try
        {
            // The lab's kernel routes between the TAP (198.18.246.0/24) and a veth to namespace far (198.18.247.0/24). The
            // route towards far is locked at MTU 1280 while both links stay at 1500: far advertises MSS 1460, and the
            // router must answer our 1500-byte DF datagrams with fragmentation-needed, MTU 1280 (RFC 1191).
            Cmd.Run("ip", "link", "add", vethLab, "netns", lab.Namespace.Name, "type", "veth", "peer", "name", vethFar, "netns", far.Name);
            lab.Namespace.Exec("sysctl", "-qw", $"net.ipv6.conf.{vethLab}.disable_ipv6=1");
            Cmd.Run("ip", "-n", lab.Namespace.Name, "addr", "add", "198.18.247.1/24", "dev", vethLab);
            Cmd.Run("ip", "-n", lab.Namespace.Name, "link", "set", vethLab, "up");
            far.ConfigureInside(vethFar, $"{farIp}/24");
            Cmd.Run("ip", "-n", lab.Namespace.Name, "route", "replace", "198.18.247.0/24", "dev", vethLab, "src", "198.18.247.1", "mtu", "lock", "1280");
            Cmd.Run("ip", "-n", far.Name, "route", "add", "198.18.246.0/24", "via", "198.18.247.1");
            lab.Namespace.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
            foreach (var ns in new[] { lab.Namespace.Name, far.Name })
                Cmd.Run("ip", "netns", "exec", ns, "ethtool", "-K", ns == far.Name ? vethFar : vethLab, "tso", "off", "gso", "off", "gro", "off");
            server = StartIn(far.Name, "socat", "-b", "4096", "-t", "10", $"TCP-LISTEN:7,bind={farIp},reuseaddr", "PIPE");
            WaitListening(far, farIp, 7, server);

            using var cts = new CancellationTokenSource(Timeout);
            var socket = await ConnectOffloaded(lab, farIp, cts.Token);
            using var echo = new EchoCheck(socket, seed: 0x39);
            await echo.Exchange(4 << 20, cts.Token);
            long uploadsBeforeClose = lab.Stack!.Statistics.Uploads;
            await CloseOrderly(socket, echo, cts.Token);
            lab.WriteSummary();
            var s = lab.Stack.Statistics;
            _output.WriteLine($"path MTU decreases {s.PathMtuDecreases}, path updates completed {s.PathUpdatesCompleted}, uploads {s.Uploads}");
            Assert.True(s.PathMtuDecreases >= 1, "no fragmentation-needed was acted on");
            Assert.True(s.PathUpdatesCompleted >= 1, "the new path MTU never reached the target");
            Assert.Equal(0L, uploadsBeforeClose);   // the connection stayed offloaded: the update, not an upload, fixed the path

            string file = lab.StopCapture();
            string icmp = Cmd.Run("tshark", "-r", file, "-n", "-Y", $"icmp.type == 3 && icmp.code == 4 && ip.dst == {OurIp}",
                "-T", "fields", "-e", "frame.time_epoch", "-e", "icmp.mtu");
            var first = icmp.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).FirstOrDefault();
            Assert.True(first is not null, "the kernel sent no fragmentation-needed");
            Assert.Equal("1280", first![1].Trim());
            double at = double.Parse(first[0], CultureInfo.InvariantCulture);
            // Segments we send after the update fit 1280; allow the ones already in flight within 50 ms of the ICMP.
            string late = Cmd.Run("tshark", "-r", file, "-n", "-Y",
                $"ip.src == {OurIp} && ip.dst == {farIp} && frame.time_epoch > {(at + 0.05).ToString("F6", CultureInfo.InvariantCulture)}",
                "-T", "fields", "-e", "ip.len");
            var lengths = late.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToList();
            _output.WriteLine($"fragmentation-needed at {at:F3}; {lengths.Count} of our datagrams after it, largest {(lengths.Count > 0 ? lengths.Max() : 0)} bytes");
            Assert.True(lengths.Count > 1000, "too few datagrams after the ICMP to judge");
            Assert.True(lengths.Max() <= 1280, $"a datagram of {lengths.Max()} bytes after the path MTU fell to 1280");
            lab.AssertNoKernelChecksumErrors();
            passed = true;
        }
        finally
        {
            if (server is not null) Stop(server);
            lab.KeepCaptureUnlessPassed(passed);
        }
    }

    // ---- row 42 -------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Row42_the_queried_state_matches_the_kernels_ss_view()
    {
        if (!Privileged.ShouldRun()) return;
        using var lab = new HostStackKernelLab(_output, nameof(Row42_the_queried_state_matches_the_kernels_ss_view), snapLength: 96);
        bool passed = false;
        try
        {
            lab.StartListener(7, "", "-b", "4096", "-t", "10", "PIPE");
            using var cts = new CancellationTokenSource(Timeout);
            var socket = await ConnectOffloaded(lab, KernelIp, cts.Token);
            using var echo = new EchoCheck(socket, seed: 0x42);
            await echo.Exchange(3_000_001, cts.Token);   // an odd size: no accidental agreement on round numbers

            // The ISNs from the capture (tcpdump writes them within a second; the SYNs came long before).
            (uint iss, uint irs) = ReadIsns(lab, socket.LocalPort);
            string last = "";
            bool agreed = false;
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromSeconds(5) && !agreed)
            {
                var stats = await socket.GetStatisticsAsync().WaitAsync(cts.Token);
                Assert.Equal(ConnectionLocation.Offloaded, stats.Location);
                Assert.True(stats.State is not null, "no state was queried");
                var st = stats.State!;
                var ss = KernelSs(lab, socket.LocalPort);
                long ourSent = unchecked(st.SndUna.Value - iss - 1);
                long ourReceived = unchecked(st.RcvNxt.Value - irs - 1);
                last = $"query: SndUna−ISS−1 = {ourSent}, SndNxt−SndUna = {unchecked(st.SndNxt - st.SndUna)}, RcvNxt−IRS−1 = {ourReceived}; " +
                       $"ss: bytes_received {ss.BytesReceived}, bytes_acked {ss.BytesAcked}, bytes_sent {ss.BytesSent}";
                agreed = ourSent == ss.BytesReceived && ourReceived == ss.BytesAcked && st.SndNxt == st.SndUna;
                if (!agreed) await Task.Delay(100, cts.Token);   // an ACK still delayed on either side
            }
            _output.WriteLine(last);
            Assert.True(agreed, "the target's queried state and the kernel's never agreed: " + last);
            Assert.Equal(3_000_001L, echo.Received);

            await CloseOrderly(socket, echo, cts.Token);
            passed = true;
        }
        finally
        {
            lab.KeepCaptureUnlessPassed(passed);
        }
    }

    // ---- row 55 -------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Row55_an_inbound_blackhole_longer_than_nce_stale_brings_one_reachability_query_per_stale_period()
    {
        if (!Privileged.ShouldRun()) return;
        const uint staleTicks = 1000;   // 1 s at 1000 ticks/s
        const double blackholeSeconds = 4.5;
        var parameters = OffloadParameters.Default with { NceStaleTicks = staleTicks };
        var options = HostStackKernelLab.DefaultOptions() with { OffloadParameters = parameters, NeighborReachableTime = TimeSpan.FromSeconds(1) };
        using var lab = new HostStackKernelLab(_output, nameof(Row55_an_inbound_blackhole_longer_than_nce_stale_brings_one_reachability_query_per_stale_period),
            snapLength: 96, options, new OffloadTargetOptions { Parameters = parameters });
        bool passed = false;
        try
        {
            lab.StartListener(7, "", "-b", "4096", "-t", "10", "PIPE");
            using var cts = new CancellationTokenSource(Timeout);
            var socket = await ConnectOffloaded(lab, KernelIp, cts.Token);
            using var echo = new EchoCheck(socket, seed: 0x55);
            await echo.Exchange(1 << 20, cts.Token);
            long queriesBefore = lab.Stack!.Statistics.NeighborQueries;
            long arpBefore = lab.Stack.Statistics.ArpRequestsSent;
            _output.WriteLine($"queries before the blackhole: {queriesBefore}");

            // Our segments reach the kernel; its ACKs and echo do not (ARP is not IP: it still flows).
            Blackhole(lab, "output", $"ip daddr {OurIp} tcp sport 7");
            var write = echo.Write(256 * 1024, cts.Token);
            await Task.Delay(TimeSpan.FromSeconds(blackholeSeconds), cts.Token);
            var s = lab.Stack.Statistics;
            long queries = s.NeighborQueries - queriesBefore;
            _output.WriteLine($"during {blackholeSeconds} s of blackhole: {queries} reachability queries, {s.NeighborVerifications} verifications, " +
                              $"{s.NeighborsConfirmedByNic} settled by the NIC, {s.ArpRequestsSent - arpBefore} ARP requests, {s.NeighborsInvalidated} invalidated");
            Unblackhole(lab);
            Assert.True(queries >= 1, "no reachability query although the NIC saw no forward progress for longer than NceStaleTicks");
            // One per stale period at most (the first after NceStaleTicks, then muted by the answer for NceStaleTicks).
            Assert.True(queries <= (long)Math.Ceiling(blackholeSeconds / (staleTicks / 1000.0)), $"{queries} queries: repeats were not muted");
            Assert.True(s.NeighborVerifications >= 1, "the host's stale answer started no verification");
            Assert.True(s.ArpRequestsSent > arpBefore, "the host did not probe the neighbour");
            Assert.Equal(0L, s.NeighborsInvalidated);   // the kernel answered the probes

            await write.WaitAsync(cts.Token);
            await echo.ReadEcho(cts.Token);
            Assert.Equal(ConnectionLocation.Offloaded, socket.Location);   // neither the blackhole nor the queries uploaded it
            Assert.Equal(0L, lab.Stack.Statistics.Uploads);
            await CloseOrderly(socket, echo, cts.Token);
            passed = true;
        }
        finally
        {
            Unblackhole(lab);
            lab.KeepCaptureUnlessPassed(passed);
        }
    }

    // ---- helpers ------------------------------------------------------------------------------------------------------

    /// <summary>Connects to <paramref name="remote"/>:7 and waits until the host stack has offloaded the connection.</summary>
    private static async Task<OffloadSocket> ConnectOffloaded(HostStackKernelLab lab, Ipv4Address remote, CancellationToken token)
    {
        var socket = await lab.Stack!.ConnectAsync(remote, 7, token).WaitAsync(token);
        await WaitFor(() => socket.Location == ConnectionLocation.Offloaded, token, "offload after the handshake", 10);
        return socket;
    }

    /// <summary>Our FIN, the echo server's FIN (end of stream), close; then every byte sent came back.</summary>
    private async Task CloseOrderly(OffloadSocket socket, EchoCheck echo, CancellationToken token)
    {
        await socket.ShutdownAsync().WaitAsync(token);
        Assert.Equal(0, await socket.ReadAsync(new byte[16], token).AsTask().WaitAsync(token));
        await socket.CloseAsync().WaitAsync(token);
        echo.AssertExact(_output);
    }

    private const string NftTable = "oe_blackhole";

    private void Blackhole(HostStackKernelLab lab, string hook, string match)
    {
        Unblackhole(lab);
        lab.Namespace.Exec("nft", "add", "table", "inet", NftTable);
        lab.Namespace.Exec("nft", "add", "chain", "inet", NftTable, "c", $"{{ type filter hook {hook} priority 0 ; }}");
        lab.Namespace.Exec("nft", ["add", "rule", "inet", NftTable, "c", .. match.Split(' '), "drop"]);
        _output.WriteLine($"nft: {hook} {match} drop");
    }

    private static void Unblackhole(HostStackKernelLab lab) => Cmd.TryRun("ip", "netns", "exec", lab.Namespace.Name, "nft", "delete", "table", "inet", NftTable);

    private static (uint Iss, uint Irs) ReadIsns(HostStackKernelLab lab, ushort port)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            string rows = Cmd.Run("tshark", "-r", lab.Capture!.FilePath, "-n", "-Y", $"tcp.port == {port} && tcp.flags.syn == 1",
                "-T", "fields", "-e", "ip.src", "-e", "tcp.seq_raw");
            uint? iss = null, irs = null;
            foreach (var line in rows.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var f = line.Split('\t');
                uint seq = uint.Parse(f[1].Trim(), CultureInfo.InvariantCulture);
                if (f[0] == OurIp.ToString()) iss = seq; else if (f[0] == KernelIp.ToString()) irs = seq;
            }
            if (iss is { } a && irs is { } b) return (a, b);
            if (sw.Elapsed > TimeSpan.FromSeconds(5)) Assert.Fail($"the SYNs of port {port} are not in the capture:\n{rows}");
            Thread.Sleep(200);
        }
    }

    private readonly record struct SsView(long BytesSent, long BytesAcked, long BytesReceived);

    /// <summary>The kernel's side of our connection, from <c>ss -tin</c> in the lab namespace.</summary>
    private static SsView KernelSs(HostStackKernelLab lab, ushort ourPort)
    {
        string text = lab.Namespace.Exec("ss", "-tinH", "state", "established", $"dport = :{ourPort}");
        long Field(string name)
        {
            var m = Regex.Match(text, $@"\b{name}:(\d+)");
            return m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;   // absent = 0 (ss omits zeros)
        }
        Assert.Contains($"{OurIp}:{ourPort}", text, StringComparison.Ordinal);
        return new SsView(Field("bytes_sent"), Field("bytes_acked"), Field("bytes_received"));
    }

    private static Process StartIn(string ns, params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "netns", "exec", ns }.Concat(args)) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {args[0]}");
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return p;
    }

    private static void Stop(Process p)
    {
        try
        {
            if (!p.HasExited)
            {
                HostStackKernelLab.Signal(p, "TERM");
                if (!p.WaitForExit(2000)) HostStackKernelLab.Signal(p, "KILL");
                p.WaitForExit(2000);
            }
        }
        catch (InvalidOperationException) { }
        p.Dispose();
    }

    private static void WaitListening(TestNamespace ns, Ipv4Address ip, ushort port, Process p)
    {
        var sw = Stopwatch.StartNew();
        while (!ns.Exec("ss", "-Hltn", $"sport = :{port}").Contains($"{ip}:{port}", StringComparison.Ordinal))
        {
            if (p.HasExited) Assert.Fail($"socat exited with {p.ExitCode}");
            if (sw.ElapsedMilliseconds > 5000) Assert.Fail($"socat is not listening on {ip}:{port} after 5 s");
            Thread.Sleep(20);
        }
    }

    private static async Task WaitFor(Func<bool> condition, CancellationToken token, string what, double seconds)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(seconds)) Assert.Fail($"timed out after {seconds} s waiting for {what}");
            await Task.Delay(20, token);
        }
    }

    /// <summary>Writes a pseudo-random stream and checks the echo byte for byte (SHA-256 of each side).</summary>
    private sealed class EchoCheck : IDisposable
    {
        private readonly OffloadSocket _socket;
        private readonly PseudoRandomPattern _pattern;
        private readonly IncrementalHash _sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly IncrementalHash _received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly byte[] _readBuffer = new byte[64 * 1024];

        internal EchoCheck(OffloadSocket socket, ulong seed)
        {
            _socket = socket;
            _pattern = new PseudoRandomPattern(seed);
        }

        internal long Written { get; private set; }
        internal long Received { get; private set; }

        internal async Task Write(long bytes, CancellationToken token)
        {
            var buffer = new byte[64 * 1024];
            for (long left = bytes; left > 0;)
            {
                int n = (int)Math.Min(left, buffer.Length);
                _pattern.Fill(buffer.AsSpan(0, n));
                _sent.AppendData(buffer, 0, n);
                await _socket.WriteAsync(buffer.AsMemory(0, n), token);
                Written += n;
                left -= n;
            }
        }

        /// <summary>Reads until everything written has come back.</summary>
        internal Task ReadEcho(CancellationToken token) => ReadUntil(Written, token);

        private async Task ReadUntil(long total, CancellationToken token)
        {
            while (Received < total)
            {
                int n = await _socket.ReadAsync(_readBuffer.AsMemory(0, (int)Math.Min(_readBuffer.Length, total - Received)), token)
                    .AsTask().WaitAsync(token);
                if (n == 0) throw new EndOfStreamException($"EOF after {Received} of {total} bytes");
                _received.AppendData(_readBuffer, 0, n);
                Received += n;
            }
        }

        /// <summary>Writes <paramref name="bytes"/> and reads their echo at the same time.</summary>
        internal async Task Exchange(long bytes, CancellationToken token)
        {
            long total = Written + bytes;
            var write = Write(bytes, token);
            await ReadUntil(total, token);
            await write;
        }

        internal void AssertExact(ITestOutputHelper output)
        {
            output.WriteLine($"echo: {Written} bytes written, {Received} read back");
            Assert.Equal(Written, Received);
            Assert.Equal(Convert.ToHexString(_sent.GetCurrentHash()), Convert.ToHexString(_received.GetCurrentHash()));
        }

        public void Dispose()
        {
            _sent.Dispose();
            _received.Dispose();
        }
    }
}
