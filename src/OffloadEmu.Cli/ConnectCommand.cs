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
        var pingPong = new Option<int?>("--ping-pong") { HelpName = "N", Description = "against an echo server: N round trips of 1 byte, one at a time; prints transactions/s and round-trip percentiles" };
        var cmd = new Command("connect", "Connect through the emulated offload NIC, transfer, and print a summary.") { target };
        shared.AddTo(cmd);
        cmd.Options.Add(sendBytes);
        cmd.Options.Add(sendFile);
        cmd.Options.Add(receive);
        cmd.Options.Add(echoCheck);
        cmd.Options.Add(pingPong);
        cmd.SetAction((pr, _) =>
        {
            ConnectRequest request;
            try
            {
                request = Bind(pr.GetValue(target)!, shared.Bind(pr), pr.GetValue(sendBytes), pr.GetValue(sendFile), pr.GetValue(receive), pr.GetValue(echoCheck),
                    pr.GetValue(pingPong));
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

    /// <summary>Validates what is specific to connect.</summary>
    internal static ConnectRequest Bind(string hostPort, SessionSettings s, string? sendBytes, FileInfo? sendFile, bool receive, bool echoCheck,
        int? pingPong = null)
    {
        if (!AddressParser.TryParseHostPort(hostPort, out var remote, out ushort port, out string error)) throw new CliUsageException(error);
        if (remote == s.Address) throw new CliUsageException($"'{hostPort}': {remote} is our own --local address");
        if (!remote.IsInSameSubnet(s.Address, s.PrefixLength) && s.Gateway.IsUnspecified)
            throw new CliUsageException($"'{hostPort}': {remote} is not on {s.Address}/{s.PrefixLength}; give --gateway ADDR");
        if (pingPong is { } rounds)
        {
            if (rounds is < 1 or > PingPong.MaxRoundTrips) throw new CliUsageException($"--ping-pong {rounds}: expected 1 to {PingPong.MaxRoundTrips} round trips");
            if (sendBytes is not null || sendFile is not null || receive || echoCheck)
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
        var plan = new TransferPlan(bytes, sendFile?.FullName, echoCheck ? ReceiveMode.Verify : ReceiveMode.Drain, s.UploadEvery, CycleOnReceived: !sends);
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
            OffloadEmu.HostStack.OffloadSocket socket;
            try
            {
                socket = await host.Stack.ConnectAsync(r.Remote, r.Port).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.HostUnreachable)
            {
                var nextHop = r.Remote.IsInSameSubnet(s.Address, s.PrefixLength) ? r.Remote : s.Gateway;
                throw new CliUsageException($"no ARP reply from {nextHop} on {s.InterfaceName} after {s.ArpTries} {(s.ArpTries == 1 ? "try" : "tries")}", 1);
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
        });
    }
}
