using System.CommandLine;
using System.Net.Sockets;
using OffloadEmu.Cli.Session;

namespace OffloadEmu.Cli;

/// <summary>
/// <c>offloademu connect HOST:PORT --link KIND:NAME --local ADDR/PREFIX [...]</c>: a host stack with its own offload
/// target on a link (or, later, bound to a daemon) opens one connection, sends a pattern or a file and/or receives,
/// optionally verifies the echo by SHA-256 and hands the connection back and forth every N bytes, then prints an
/// iperf3-like summary (or one JSON object). Exit 0 only when everything went as asked.
/// </summary>
internal static class ConnectCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var target = new Argument<string>("HOST:PORT") { Description = "the peer, an IPv4 address and a port (e.g. 198.18.0.1:7)" };
        var shared = new SessionOptions();
        var sendBytes = new Option<string?>("--send-bytes") { HelpName = "N", Description = "send N bytes of a deterministic pattern (K, M, G suffixes)" };
        var sendFile = new Option<FileInfo?>("--send") { HelpName = "FILE", Description = "send the contents of FILE" };
        var receive = new Option<bool>("--receive") { Description = "receive until the peer closes (counted, dropped)" };
        var echoCheck = new Option<bool>("--echo-check") { Description = "expect the peer to echo: compare the received stream with the sent one (SHA-256)" };
        var checkPattern = new Option<bool>("--check-pattern") { Description = "with --receive: the peer sends the deterministic pattern (offloademu listen --source); check every byte and report the SHA-256 of what came" };
        var parallel = new Option<int?>("--parallel", "-P") { HelpName = "N", Description = $"N connections at once from this process (1 to {MaxParallel}), each offloaded, with a line per stream and a SUM; --send-bytes is the total, split evenly" };
        var pingPong = new Option<int?>("--ping-pong") { HelpName = "N", Description = "against an echo server: N round trips of 1 byte, one at a time; prints transactions/s and round-trip percentiles" };
        var cmd = new Command("connect", "Connect through the emulated offload NIC, transfer, and print a summary.") { target };
        shared.AddTo(cmd);
        cmd.Options.Add(sendBytes);
        cmd.Options.Add(sendFile);
        cmd.Options.Add(receive);
        cmd.Options.Add(echoCheck);
        cmd.Options.Add(pingPong);
        cmd.Options.Add(checkPattern);
        cmd.Options.Add(parallel);
        cmd.SetAction((pr, _) =>
        {
            ConnectRequest request;
            try
            {
                request = Bind(pr.GetValue(target)!, shared.Bind(pr), pr.GetValue(sendBytes), pr.GetValue(sendFile), pr.GetValue(receive), pr.GetValue(echoCheck),
                    pr.GetValue(pingPong), pr.GetValue(parallel), pr.GetValue(checkPattern));
            }
            catch (CliUsageException ex)
            {
                stderr.WriteLine($"offloademu connect: {ex.Message}");
                return Task.FromResult(ex.ExitCode);
            }
            return RunAsync(request, stdout, stderr);
        });
        return cmd;
    }

    /// <summary>Most streams of <c>--parallel</c> (iperf3 allows 128).</summary>
    internal const int MaxParallel = 128;

    /// <summary>Validates what is specific to connect.</summary>
    internal static ConnectRequest Bind(string hostPort, SessionSettings s, string? sendBytes, FileInfo? sendFile, bool receive, bool echoCheck,
        int? pingPong = null, int? parallel = null, bool checkPattern = false)
    {
        if (parallel is { } p)
        {
            if (p is < 1 or > MaxParallel) throw new CliUsageException($"--parallel {p}: expected 1 to {MaxParallel} streams");
            if (pingPong is not null) throw new CliUsageException("--ping-pong times one connection's round trips; drop --parallel");
            if (sendFile is not null && p > 1) throw new CliUsageException("--send FILE is one stream's data; with --parallel give --send-bytes N (the total, split over the streams)");
        }
        var request = BindOne(hostPort, s, sendBytes, sendFile, receive, echoCheck, pingPong, checkPattern);
        if (parallel is { } n && request.Plan.SendBytes > 0 && request.Plan.SendBytes < n)
            throw new CliUsageException($"--send-bytes {request.Plan.SendBytes} over --parallel {n} streams: expected at least one byte per stream");
        return parallel is { } streams ? request with { Parallel = streams } : request;
    }

    private static ConnectRequest BindOne(string hostPort, SessionSettings s, string? sendBytes, FileInfo? sendFile, bool receive, bool echoCheck,
        int? pingPong, bool checkPattern)
    {
        if (!AddressParser.TryParseHostPort(hostPort, out var remote, out ushort port, out string error)) throw new CliUsageException(error);
        if (remote == s.Address) throw new CliUsageException($"'{hostPort}': {remote} is our own --local address");
        if (!remote.IsInSameSubnet(s.Address, s.PrefixLength) && s.Gateway.IsUnspecified)
            throw new CliUsageException($"'{hostPort}': {remote} is not on {s.Address}/{s.PrefixLength}; give --gateway ADDR");
        if (pingPong is { } rounds)
        {
            if (rounds is < 1 or > PingPong.MaxRoundTrips) throw new CliUsageException($"--ping-pong {rounds}: expected 1 to {PingPong.MaxRoundTrips} round trips");
            if (sendBytes is not null || sendFile is not null || receive || echoCheck || checkPattern)
                throw new CliUsageException("--ping-pong is a mode of its own: drop --send-bytes, --send, --receive and --echo-check");
            if (s.UploadEvery > 0) throw new CliUsageException("--ping-pong times round trips; --upload-every does not apply");
            return new ConnectRequest(s, remote, port, new TransferPlan(0, null, ReceiveMode.Drain, 0, false), "ping-pong", rounds);
        }
        if (sendBytes is not null && sendFile is not null) throw new CliUsageException("--send-bytes and --send are exclusive: send a pattern or a file");
        long bytes = 0;
        if (sendBytes is not null && (!SizeParser.TryParse(sendBytes, out bytes) || bytes <= 0))
            throw new CliUsageException($"--send-bytes '{sendBytes}': expected a byte count above 0 (e.g. 16777216 or 16M)");
        if (sendFile is not null && !sendFile.Exists) throw new CliUsageException($"--send {sendFile.FullName}: no such file");
        bool sends = bytes > 0 || sendFile is not null;
        if (echoCheck && !sends) throw new CliUsageException("--echo-check needs something to send: give --send-bytes N or --send FILE");
        if (echoCheck && receive) throw new CliUsageException("--echo-check and --receive are exclusive: --echo-check already receives (and verifies) the echo");
        if (!sends && !receive) throw new CliUsageException("nothing to do: give --send-bytes N, --send FILE, --receive or --echo-check");
        if (checkPattern && (!receive || sends))
            throw new CliUsageException("--check-pattern checks what --receive gets from a pattern source; give --receive without --send-bytes/--send (--echo-check checks an echo)");
        var plan = new TransferPlan(bytes, sendFile?.FullName, echoCheck ? ReceiveMode.Verify : checkPattern ? ReceiveMode.Check : ReceiveMode.Drain, s.UploadEvery, CycleOnReceived: !sends);
        string mode = echoCheck ? "echo-check" : sends ? (receive ? "send+receive" : "send") : "receive";
        return new ConnectRequest(s, remote, port, plan, mode);
    }

    internal static Task<int> RunAsync(ConnectRequest r, TextWriter stdout, TextWriter stderr)
    {
        var s = r.Settings;
        var run = new SessionRun("connect", s, stdout, stderr);
        return run.RunAsync(async (host, self) =>
        {
            string peer = SessionRun.Endpoint(r.Remote, r.Port);
            if (r.Parallel == 0)
            {
                OffloadEmu.HostStack.OffloadSocket socket;
                try
                {
                    socket = await ConnectOneAsync(host, r).ConfigureAwait(false);
                }
                catch (SocketException ex)
                {
                    throw new CliUsageException(Transfer.Describe(ex, peer, null), 1);
                }
                if (!s.Json) stdout.WriteLine($"connected {SessionRun.Endpoint(socket.LocalAddress, socket.LocalPort)} -> {peer} on {host.Target.Description}");
                if (r.PingPong > 0)
                {
                    await self.PingPongAsync(socket, r.PingPong, SessionRun.Endpoint(socket.LocalAddress, socket.LocalPort), peer, host.Stack.Statistics.SendCompletionLatency).ConfigureAwait(false);
                    return;
                }
                await self.TransferAsync(host, socket, r.Plan, r.Mode, SessionRun.Endpoint(socket.LocalAddress, socket.LocalPort), peer).ConfigureAwait(false);
                return;
            }
            // --parallel N: the connections one after the other (as iperf3 does), then all transfers at once. A stream
            // whose connect fails is reported with the others; no ARP reply ends the run as it does for one connection.
            var streams = new List<(int, OffloadEmu.HostStack.OffloadSocket, TransferPlan)>(r.Streams);
            var failed = new List<(int, string)>();
            for (int i = 0; i < r.Streams; i++)
            {
                try
                {
                    var socket = await ConnectOneAsync(host, r).ConfigureAwait(false);
                    if (!s.Json) stdout.WriteLine($"{TransferSummary.StreamTag(i + 1)}connected {SessionRun.Endpoint(socket.LocalAddress, socket.LocalPort)} -> {peer} on {host.Target.Description}");
                    streams.Add((i + 1, socket, r.PlanOf(i)));
                }
                catch (SocketException ex)
                {
                    failed.Add((i + 1, Transfer.Describe(ex, peer, null)));
                }
            }
            stdout.Flush();
            await self.ParallelAsync(host, streams, failed, r.Streams, r.Mode, peer).ConfigureAwait(false);
        });
    }

    // One connect; no ARP reply for the next hop is the run's error (exit 1), other socket errors are the caller's. A
    // reset during the handshake (the peer's RST to our SYN, which the host stack reports as a reset) is a refusal.
    private static async Task<OffloadEmu.HostStack.OffloadSocket> ConnectOneAsync(SessionHost host, ConnectRequest r)
    {
        var s = r.Settings;
        try
        {
            return await host.Stack.ConnectAsync(r.Remote, r.Port).ConfigureAwait(false);
        }
        catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            throw new SocketException((int)SocketError.ConnectionRefused);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.HostUnreachable)
        {
            var nextHop = r.Remote.IsInSameSubnet(s.Address, s.PrefixLength) ? r.Remote : s.Gateway;
            throw new CliUsageException($"no ARP reply from {nextHop} on {s.InterfaceName} after {s.ArpTries} {(s.ArpTries == 1 ? "try" : "tries")}", 1);
        }
    }
}
