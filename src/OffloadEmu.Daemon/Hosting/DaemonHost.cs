using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OffloadEmu.Daemon.Configuration;
using OffloadEmu.Daemon.Metrics;
using OffloadEmu.Daemon.Options;
using OffloadEmu.Daemon.Systemd;
using Serilog;
using Serilog.Settings.Configuration;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>Composes the daemon's host: configuration sources, options and validators, Serilog, services.</summary>
internal static class DaemonHost
{
    /// <summary>The Serilog section, inside <c>Logging</c>.</summary>
    internal const string SerilogSection = "Logging:Serilog";

    /// <summary>Builds the host builder for <paramref name="args"/>.</summary>
    /// <returns>The builder and the configuration file it read (null for none).</returns>
    /// <exception cref="DaemonConfigurationException">The file, an argument or the logging section is malformed.</exception>
    internal static (HostApplicationBuilder Builder, string? ConfigFile) CreateBuilder(string[] args, DaemonHostSettings? settings = null)
    {
        settings ??= new DaemonHostSettings();
        var (explicitPath, rest) = ConfigFileLocator.SplitArguments(args);
        string? configFile = ConfigFileLocator.Locate(explicitPath, settings.WorkingDirectory, settings.BaseDirectory);

        // DisableDefaults: no appsettings.json, no DOTNET_ variables, no default console logger; we
        // add exactly our three sources in our order.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ApplicationName = "offloademud",
            ContentRootPath = settings.WorkingDirectory,
            EnvironmentName = Environments.Production,
        });
        DaemonConfiguration.AddSources(builder.Configuration, configFile, settings.Environment, rest);

        AddLogging(builder);
        AddServices(builder.Services, builder.Configuration, settings);
        return (builder, configFile);
    }

    private static void AddLogging(HostApplicationBuilder builder)
    {
        Serilog.Core.Logger serilog;
        try
        {
            var config = new LoggerConfiguration();
            var section = builder.Configuration.GetSection(SerilogSection);
            if (section.Exists())
            {
                var reader = new ConfigurationReaderOptions(
                    typeof(ConsoleLoggerConfigurationExtensions).Assembly, typeof(FileLoggerConfigurationExtensions).Assembly)
                {
                    SectionName = SerilogSection,
                };
                config.ReadFrom.Configuration(builder.Configuration, reader);
            }
            else
            {
                config.MinimumLevel.Information().WriteTo.Console();
            }
            // Expected configuration errors are printed as one line by DaemonApp; keep their stack traces out of the logs.
            serilog = config.Filter.ByExcluding(e => ConfigurationErrors.IsConfigurationError(e.Exception)).CreateLogger();
        }
        catch (Exception ex) when (ex is not DaemonConfigurationException)
        {
            throw new DaemonConfigurationException(
                $"{SerilogSection}: {ex.Message.ReplaceLineEndings(" ").TrimEnd('.')}; check the levels and sinks (see docs/configuration.md)", ex);
        }
        builder.Logging.ClearProviders();
        // Serilog's own minimum level decides; Microsoft.Extensions.Logging would otherwise stop at Information.
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddSerilog(serilog, dispose: true);
    }

    private static void AddServices(IServiceCollection services, IConfiguration configuration, DaemonHostSettings settings)
    {
        settings.ConfigureServices?.Invoke(services);

        AddOptions<LinkOptions, LinkOptionsValidator>(services, configuration, LinkOptions.SectionName);
        AddOptions<NicOptions, NicOptionsValidator>(services, configuration, NicOptions.SectionName);
        AddOptions<OffloadParametersOptions, OffloadParametersOptionsValidator>(services, configuration, OffloadParametersOptions.SectionName);
        AddOptions<PoliciesOptions, PoliciesOptionsValidator>(services, configuration, PoliciesOptions.SectionName);
        AddOptions<CaptureFileOptions, CaptureFileOptionsValidator>(services, configuration, CaptureFileOptions.SectionName);
        AddOptions<ImpairmentOptions, ImpairmentOptionsValidator>(services, configuration, ImpairmentOptions.SectionName);
        AddOptions<ControlOptions, ControlOptionsValidator>(services, configuration, ControlOptions.SectionName);
        services.AddOptions<MetricsOptions>().Bind(configuration.GetSection(MetricsOptions.SectionName), RejectUnknownKeys).ValidateOnStart();

        // Our own start line replaces the console lifetime's "Application started" banner.
        services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);

        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(_ => SystemdNotifier.FromEnvironment());
        services.TryAddSingleton<IFrameSink, TargetFrameSink>();
        services.TryAddSingleton<DaemonStatus>();
        services.TryAddSingleton<DaemonMetrics>();
        services.TryAddSingleton<LinkStackFactory>();
        services.TryAddSingleton<ControlCapture>();
        services.TryAddSingleton<LinkService>();
        services.TryAddSingleton<DaemonStatusSource>();

        // Start order: the link first; readiness is sent after every service has started (lifecycle hook).
        services.TryAddSingleton<ControlService>();
        services.AddHostedService(sp => sp.GetRequiredService<LinkService>());
        services.AddHostedService(sp => sp.GetRequiredService<ControlService>());
        services.AddHostedService<SystemdNotifyService>();
    }

    // A misspelt key would otherwise be ignored silently and its default used.
    private static void RejectUnknownKeys(BinderOptions options) => options.ErrorOnUnknownConfiguration = true;

    private static void AddOptions<TOptions, TValidator>(IServiceCollection services, IConfiguration configuration, string section)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        services.AddOptions<TOptions>().Bind(configuration.GetSection(section), RejectUnknownKeys).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidator>());
    }
}
