using System.CommandLine;
using OffloadEmu.Cli.Drive;
using Spectre.Console;

namespace OffloadEmu.Cli.Status;

/// <summary>
/// <c>offloademu status [--daemon SOCKET] [--json] [--max-connections N]</c>: one snapshot of the running daemon (its link,
/// NIC, sessions, counters and offloaded connections like `ss -ti`), taken through a monitor session on the control
/// socket. Exit 0, or 1 with one line when no daemon answers.
/// </summary>
internal static class StatusCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var daemon = DaemonOption();
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of tables" };
        var max = new Option<int>("--max-connections")
        {
            HelpName = "N", Description = $"list at most N connections (default and most: {Control.Status.StatusSnapshot.MaxConnections}); the rest are counted",
            DefaultValueFactory = _ => Control.Status.StatusSnapshot.MaxConnections,
        };
        var cmd = new Command("status", "Show the running offloademud: link, NIC, sessions, counters and offloaded connections.") { daemon, json, max };
        cmd.SetAction(async (pr, ct) =>
        {
            string socket = pr.GetValue(daemon)!;
            int n = pr.GetValue(max);
            if (n < 0)
            {
                await stderr.WriteLineAsync($"offloademu status: --max-connections {n}: expected 0 or more").ConfigureAwait(false);
                return 2;
            }
            try
            {
                await using var monitor = await DaemonMonitor.ConnectAsync(socket, "status", ct).ConfigureAwait(false);
                var snapshot = await monitor.QueryAsync(Math.Min(n, Control.Status.StatusSnapshot.MaxConnections), ct).ConfigureAwait(false);
                if (pr.GetValue(json))
                {
                    await stdout.WriteLineAsync(StatusJson.Status(socket, snapshot)).ConfigureAwait(false);
                }
                else
                {
                    var console = StatusView.Console(stdout);
                    console.Write(StatusView.Summary(socket, snapshot));
                    console.WriteLine();
                    console.Write(StatusView.Families(snapshot));
                    console.Write(StatusView.Connections(snapshot));
                    console.WriteLine();
                }
                await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                return 0;
            }
            catch (DaemonUnavailableException ex)
            {
                await stderr.WriteLineAsync($"offloademu status: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
        });
        return cmd;
    }

    /// <summary>The --daemon option as `drive` has it (default: Control:Endpoint's default).</summary>
    internal static Option<string> DaemonOption() => new("--daemon")
    {
        HelpName = "SOCKET",
        Description = "the running offloademud's control socket (Control:Endpoint)",
        DefaultValueFactory = _ => DriveCommand.DefaultSocket,
    };
}
