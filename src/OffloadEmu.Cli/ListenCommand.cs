using System.CommandLine;
using OffloadEmu.Cli.Session;

namespace OffloadEmu.Cli;

/// <summary>
/// <c>offloademu listen PORT [--echo | --sink | --source N] [--count K] --link KIND:NAME --local ADDR/PREFIX [...]</c>:
/// the passive side. Accepts K connections one after the other, offloads them per policy, echoes, sinks or sends N
/// pattern bytes, and prints a summary per connection. Exit 0 only when every connection went well.
/// </summary>
internal static class ListenCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var port = new Argument<string>("PORT") { Description = "the TCP port to listen on" };
        var shared = new SessionOptions();
        var echo = new Option<bool>("--echo") { Description = "send back everything received" };
        var sink = new Option<bool>("--sink") { Description = "receive and drop everything (the default)" };
        var source = new Option<string?>("--source") { HelpName = "N", Description = "send N bytes of the deterministic pattern, then close" };
        var count = new Option<int?>("--count") { HelpName = "K", Description = "accept K connections, one after the other (default 1)" };
        var cmd = new Command("listen", "Accept connections through the emulated offload NIC and echo, sink or source data.") { port };
        shared.AddTo(cmd);
        cmd.Options.Add(echo);
        cmd.Options.Add(sink);
        cmd.Options.Add(source);
        cmd.Options.Add(count);
        cmd.SetAction((pr, _) =>
        {
            ListenRequest request;
            try
            {
                request = Bind(pr.GetValue(port)!, shared.Bind(pr), pr.GetValue(echo), pr.GetValue(sink), pr.GetValue(source), pr.GetValue(count));
            }
            catch (CliUsageException ex)
            {
                stderr.WriteLine($"offloademu listen: {ex.Message}");
                return Task.FromResult(ex.ExitCode);
            }
            return RunAsync(request, stdout, stderr);
        });
        return cmd;
    }

    internal static ListenRequest Bind(string portText, SessionSettings s, bool echo, bool sink, string? source, int? count)
    {
        if (!AddressParser.TryParsePort(portText, out ushort port)) throw new CliUsageException($"PORT '{portText}': expected a number from 1 to 65535");
        if ((echo ? 1 : 0) + (sink ? 1 : 0) + (source is null ? 0 : 1) > 1) throw new CliUsageException("--echo, --sink and --source are exclusive: pick one");
        long bytes = 0;
        if (source is not null && (!SizeParser.TryParse(source, out bytes) || bytes <= 0))
            throw new CliUsageException($"--source '{source}': expected a byte count above 0 (e.g. 4194304 or 4M)");
        int k = count ?? 1;
        if (k < 1) throw new CliUsageException($"--count {k}: expected 1 or more");
        TransferPlan plan;
        string mode;
        if (echo)
        {
            plan = new TransferPlan(0, null, ReceiveMode.Echo, s.UploadEvery, CycleOnReceived: true);
            mode = "echo";
        }
        else if (source is not null)
        {
            plan = new TransferPlan(bytes, null, ReceiveMode.Drain, s.UploadEvery, CycleOnReceived: false);
            mode = "source";
        }
        else
        {
            plan = new TransferPlan(0, null, ReceiveMode.Drain, s.UploadEvery, CycleOnReceived: true);
            mode = "sink";
        }
        return new ListenRequest(s, port, plan, mode, k);
    }

    internal static Task<int> RunAsync(ListenRequest r, TextWriter stdout, TextWriter stderr)
    {
        var run = new SessionRun("listen", r.Settings, stdout, stderr);
        HostStack.OffloadListener? listening = null;
        return run.RunAsync(async (host, self) =>
        {
            var listener = listening!;
            if (!r.Settings.Json)
            {
                stdout.WriteLine($"listening on {SessionRun.Endpoint(r.Settings.Address, r.Port)} ({r.Mode}) on {host.Target.Description}");
                stdout.Flush();
            }
            for (int i = 0; i < r.Count; i++)
            {
                var socket = await listener.AcceptAsync().ConfigureAwait(false);
                string local = SessionRun.Endpoint(socket.LocalAddress, socket.LocalPort), remote = SessionRun.Endpoint(socket.RemoteAddress, socket.RemotePort);
                if (!r.Settings.Json) stdout.WriteLine($"accepted {remote} -> {local}");
                await self.TransferAsync(host, socket, r.Plan, r.Mode, local, remote).ConfigureAwait(false);
            }
            listener.Stop();
        },
        // Listening before the stack answers its first ARP request: a peer that connects at once is not reset (seen
        // under load: the port was registered only after the target and the stack had started).
        beforeStart: stack => listening = stack.Listen(r.Port));
    }
}
