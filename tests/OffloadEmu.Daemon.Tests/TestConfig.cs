using System.Collections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OffloadEmu.Daemon.Hosting;

namespace OffloadEmu.Daemon.Tests;

/// <summary>Test configurations and hosts: a memory link, no log sinks, nothing read from the process environment.</summary>
internal static class TestConfig
{
    /// <summary>A valid emulator.json for tests: memory link, capture off, logging to no sink.</summary>
    internal const string MemoryJson = """
        {
          "Link": { "Kind": "memory", "Interface": "mem0" },
          "Capture": { "File": "" },
          "Logging": { "Serilog": { "MinimumLevel": { "Default": "Warning" }, "WriteTo": [] } }
        }
        """;

    /// <summary>Settings rooted in <paramref name="dir"/> with an empty environment unless given.</summary>
    internal static DaemonHostSettings Settings(TempDirectory dir, IDictionary? environment = null, Action<IServiceCollection>? services = null)
        => new()
        {
            WorkingDirectory = dir.Path,
            BaseDirectory = Path.Combine(dir.Path, "bin-does-not-exist"),
            // Each host serves its control socket in its own directory (tests run side by side).
            Environment = environment ?? new Hashtable { ["OFFLOADEMU_Control__Endpoint"] = Path.Combine(dir.Path, "control.sock") },
            ConfigureServices = services,
        };

    /// <summary>Builds (not starts) a host from <paramref name="json"/> written as ./emulator.json plus <paramref name="args"/>.</summary>
    internal static IHost Build(TempDirectory dir, string json, string[] args, IDictionary? environment = null, Action<IServiceCollection>? services = null)
    {
        dir.Write("emulator.json", json);
        var (builder, _) = DaemonHost.CreateBuilder(args, Settings(dir, environment, services));
        return builder.Build();
    }

    /// <summary>Runs the daemon in-process on the arguments and returns exit code and stderr lines; only for runs that fail at start.</summary>
    internal static (int Code, string[] Lines) RunFailing(TempDirectory dir, string json, params string[] args)
    {
        dir.Write("emulator.json", json);
        var stderr = new StringWriter();
        var run = DaemonApp.RunAsync(args, Settings(dir), TextWriter.Null, stderr);
        if (!run.Wait(TimeSpan.FromSeconds(30))) Assert.Fail("the daemon started although the configuration is wrong: " + string.Join(' ', args));
        return (run.Result, stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
