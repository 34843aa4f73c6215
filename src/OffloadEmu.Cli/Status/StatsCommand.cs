using System.CommandLine;
using System.Runtime.InteropServices;
using Spectre.Console;

namespace OffloadEmu.Cli.Status;

/// <summary>
/// <c>offloademu stats [--daemon SOCKET] [--watch [--interval 1s]] [--json]</c>: the daemon's counters (link, target,
/// per-family TCP/IP offload statistics). With <c>--watch</c> they refresh every interval with rates per second (a live
/// table on a terminal, one JSON line per interval with <c>--json</c>) until Ctrl-C or SIGTERM (exit 0). No daemon, or
/// the daemon lost while watching: one line on stderr and exit 1.
/// </summary>
internal static class StatsCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var daemon = StatusCommand.DaemonOption();
        var json = new Option<bool>("--json") { Description = "JSON: one object (with --watch one line per interval)" };
        var watch = new Option<bool>("--watch") { Description = "refresh every interval with rates per second until Ctrl-C" };
        var interval = new Option<string>("--interval")
        {
            HelpName = "TIME", Description = "refresh interval with --watch: 1s (default), 500ms, 2, ... (0.1 s to 1 h)",
            DefaultValueFactory = _ => "1s",
        };
        var cmd = new Command("stats", "Show the running offloademud's counters, once or refreshed with --watch.") { daemon, json, watch, interval };
        cmd.SetAction(async (pr, ct) =>
        {
            string text = pr.GetValue(interval)!;
            if (!IntervalParser.TryParse(text, out var every))
            {
                await stderr.WriteLineAsync($"offloademu stats: --interval '{text}': expected a time from 0.1s to 1h such as 1s, 500ms or 2").ConfigureAwait(false);
                return 2;
            }
            if (pr.GetResult(interval) is { Implicit: false } && !pr.GetValue(watch))
            {
                await stderr.WriteLineAsync("offloademu stats: --interval applies to --watch; add --watch").ConfigureAwait(false);
                return 2;
            }
            return await RunAsync(pr.GetValue(daemon)!, pr.GetValue(json), pr.GetValue(watch), every, stdout, stderr, ct).ConfigureAwait(false);
        });
        return cmd;
    }

    internal static async Task<int> RunAsync(string socket, bool json, bool watch, TimeSpan every, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // Ctrl-C / SIGTERM end a watch cleanly (exit 0); the registrations keep the runtime from terminating the process.
        using var sigint = watch ? PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop) : null;
        using var sigterm = watch ? PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop) : null;
        try
        {
            await using var monitor = await DaemonMonitor.ConnectAsync(socket, "stats", stop.Token).ConfigureAwait(false);
            if (!watch)
            {
                var once = await monitor.QueryAsync(0, stop.Token).ConfigureAwait(false);
                var counters = StatsCounter.From(once);
                if (json) await stdout.WriteLineAsync(StatusJson.Stats(socket, once, counters, null, 0)).ConfigureAwait(false);
                else StatusView.Console(stdout).Write(StatusView.Stats(counters, null, 0));
                await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                return 0;
            }
            bool live = !json && ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
            if (live)
            {
                await AnsiConsole.Live(new Text("waiting for the first sample ...")).AutoClear(false)
                    .Overflow(VerticalOverflow.Ellipsis).Cropping(VerticalOverflowCropping.Bottom)
                    .StartAsync(ctx => WatchAsync(monitor, every, stop.Token, (s, counters, previous, seconds) =>
                    {
                        ctx.UpdateTarget(new Rows(new Text($"offloademud on {socket}, up {StatusView.Uptime(s.Uptime)}, every {every.TotalSeconds:0.###} s (Ctrl-C ends)"),
                            StatusView.Stats(counters, previous, seconds)));
                        return Task.CompletedTask;
                    })).ConfigureAwait(false);
            }
            else
            {
                var console = json ? null : StatusView.Console(stdout);
                await WatchAsync(monitor, every, stop.Token, async (s, counters, previous, seconds) =>
                {
                    if (json)
                    {
                        await stdout.WriteLineAsync(StatusJson.Stats(socket, s, counters, previous, seconds)).ConfigureAwait(false);
                    }
                    else
                    {
                        console!.WriteLine($"{s.TakenAt.UtcDateTime:HH:mm:ss.fff} offloademud on {socket}, up {StatusView.Uptime(s.Uptime)}");
                        console!.Write(StatusView.Stats(counters, previous, seconds));
                    }
                    await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                }).ConfigureAwait(false);
            }
            return 0;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 0;
        }
        catch (DaemonUnavailableException ex)
        {
            await stderr.WriteLineAsync($"offloademu stats: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }

    /// <summary>Samples every <paramref name="every"/> until <paramref name="stop"/>; rates use the daemon's own clock
    /// between samples.</summary>
    private static async Task WatchAsync(DaemonMonitor monitor, TimeSpan every, CancellationToken stop,
        Func<Control.Status.StatusSnapshot, List<StatsCounter>, List<StatsCounter>?, double, Task> show)
    {
        List<StatsCounter>? previous = null;
        DateTimeOffset previousAt = default;
        var timer = new PeriodicTimer(every);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var s = await monitor.QueryAsync(0, stop).ConfigureAwait(false);
                var counters = StatsCounter.From(s);
                double seconds = previous is null ? 0 : (s.TakenAt - previousAt).TotalSeconds;
                await show(s, counters, previous, seconds).ConfigureAwait(false);
                (previous, previousAt) = (counters, s.TakenAt);
                if (!await timer.WaitForNextTickAsync(stop).ConfigureAwait(false)) break;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Ctrl-C: a clean end.
        }
        finally
        {
            timer.Dispose();
        }
    }
}
