using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OffloadEmu.Daemon.Configuration;
using OffloadEmu.Daemon.Options;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// Runs the daemon and maps outcomes to exit codes: expected configuration errors are printed as
/// one line each on stderr ("offloademud: Setting: problem; fix") with exit code 78, never as a stack trace.
/// </summary>
internal static class DaemonApp
{
    private const string Prefix = "offloademud: ";

    /// <summary>Runs until SIGINT/SIGTERM (or a fatal link failure) and returns the exit code.</summary>
    internal static async Task<int> RunAsync(string[] args, DaemonHostSettings? settings, TextWriter stdout, TextWriter stderr)
    {
        if (args.Any(a => a is "--help" or "-h" or "-?"))
        {
            await stdout.WriteAsync(Usage).ConfigureAwait(false);
            return ExitCodes.Success;
        }
        if (args.Any(a => a == "--version"))
        {
            await stdout.WriteLineAsync("offloademud " + typeof(DaemonApp).Assembly.GetName().Version).ConfigureAwait(false);
            return ExitCodes.Success;
        }

        IHost host;
        string? configFile;
        try
        {
            (var builder, configFile) = DaemonHost.CreateBuilder(args, settings);
            host = builder.Build();
        }
        catch (Exception ex) when (ConfigurationErrors.Describe(ex) is { } lines)
        {
            return await PrintAsync(stderr, lines).ConfigureAwait(false);
        }

        using (host)
        {
            var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("OffloadEmu.Daemon");
            if (configFile is not null) DaemonLog.ConfigurationFile(logger, configFile);
            else DaemonLog.NoConfigurationFile(logger);
            try
            {
                await host.StartAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ConfigurationErrors.Describe(ex) is { } lines)
            {
                return await PrintAsync(stderr, lines).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                logger.LogCritical(ex, "offloademud failed to start");
                await stderr.WriteLineAsync($"{Prefix}start failed: {ex.Message.ReplaceLineEndings(" ")} (details in the log)").ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            LogStarted(host.Services, logger);
            var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
            lifetime.ApplicationStopping.Register(() => DaemonLog.Stopping(logger));
            try
            {
                await host.WaitForShutdownAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                logger.LogCritical(ex, "offloademud failed while stopping");
                await stderr.WriteLineAsync($"{Prefix}stop failed: {ex.Message.ReplaceLineEndings(" ")} (details in the log)").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
            return host.Services.GetRequiredService<DaemonStatus>().ExitCode;
        }
    }

    private static void LogStarted(IServiceProvider services, ILogger logger)
    {
        var link = services.GetRequiredService<LinkService>();
        var capture = services.GetRequiredService<IOptions<CaptureFileOptions>>().Value;
        var impairment = services.GetRequiredService<IOptions<ImpairmentOptions>>().Value;
        var control = services.GetRequiredService<IOptions<ControlOptions>>().Value;
        string captureText = link.Stack?.Capture?.CurrentPath ?? "off";
        string impairmentText = impairment.Ingress.Length + impairment.Egress.Length == 0
            ? "none" : $"ingress \"{impairment.Ingress}\" egress \"{impairment.Egress}\"";
        DaemonLog.Started(logger, link.Stack?.Description ?? "?", captureText, impairmentText, control.Endpoint);
    }

    private static async Task<int> PrintAsync(TextWriter stderr, IReadOnlyList<string> lines)
    {
        foreach (var line in lines) await stderr.WriteLineAsync(Prefix + line).ConfigureAwait(false);
        await stderr.FlushAsync().ConfigureAwait(false);
        return ExitCodes.Configuration;
    }

    /// <summary>The --help text.</summary>
    internal const string Usage = """
        offloademud - the OffloadEmu TCP offload NIC as a daemon

        Usage: offloademud [--config PATH] [--Section:Key=value ...]

        Configuration, later sources win:
          1. emulator.json: --config PATH, else ./emulator.json, else the one beside the binary
          2. environment variables OFFLOADEMU_Section__Key=value (e.g. OFFLOADEMU_Link__Interface=oe1)
          3. command-line settings --Section:Key=value (e.g. --Link:Interface=oe1)
        Every setting is explained in docs/configuration.md.

        Stops cleanly on SIGINT or SIGTERM. Exit codes: 0 clean stop, 1 failure while running,
        78 configuration error (one line on stderr names the setting and the fix).

        """;
}
