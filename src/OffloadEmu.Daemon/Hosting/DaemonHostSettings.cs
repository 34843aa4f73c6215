using System.Collections;
using Microsoft.Extensions.DependencyInjection;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>Where the daemon looks for things; the defaults are the process's own. Tests substitute them.</summary>
internal sealed class DaemonHostSettings
{
    /// <summary>The working directory (second place emulator.json is looked for; base of relative paths).</summary>
    internal string WorkingDirectory { get; init; } = System.Environment.CurrentDirectory;

    /// <summary>The binary's directory (third place emulator.json is looked for).</summary>
    internal string BaseDirectory { get; init; } = AppContext.BaseDirectory;

    /// <summary>Environment variables to read OFFLOADEMU_ settings from; null = the process's.</summary>
    internal IDictionary? Environment { get; init; }

    /// <summary>
    /// Registrations made before the daemon's defaults, which are only added when missing: register an
    /// <see cref="IFrameSink"/> here to plug in an offload target.
    /// </summary>
    internal Action<IServiceCollection>? ConfigureServices { get; init; }
}
