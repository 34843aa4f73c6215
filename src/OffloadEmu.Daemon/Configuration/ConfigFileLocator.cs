namespace OffloadEmu.Daemon.Configuration;

/// <summary>Finds emulator.json: <c>--config PATH</c>, else the working directory, else beside the binary.</summary>
internal static class ConfigFileLocator
{
    /// <summary>The file name looked for.</summary>
    internal const string FileName = "emulator.json";

    /// <summary>
    /// Splits <c>--config PATH</c> / <c>--config=PATH</c> off <paramref name="args"/>; the rest is
    /// returned for the command-line configuration provider.
    /// </summary>
    internal static (string? ConfigPath, string[] Remaining) SplitArguments(string[] args)
    {
        string? path = null;
        var rest = new List<string>(args.Length);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--config")
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    throw new DaemonConfigurationException("--config: no path given; write --config /path/to/emulator.json");
                path = args[++i];
            }
            else if (a.StartsWith("--config=", StringComparison.Ordinal))
            {
                path = a["--config=".Length..];
                if (path.Length == 0) throw new DaemonConfigurationException("--config: no path given; write --config /path/to/emulator.json");
            }
            else
            {
                rest.Add(a);
            }
        }
        return (path, rest.ToArray());
    }

    /// <summary>The configuration file to read, or null when there is none (built-in defaults apply).</summary>
    /// <exception cref="DaemonConfigurationException">An explicit <paramref name="explicitPath"/> does not exist.</exception>
    internal static string? Locate(string? explicitPath, string workingDirectory, string baseDirectory)
    {
        if (explicitPath is not null)
        {
            string full = Path.GetFullPath(explicitPath, workingDirectory);
            if (!File.Exists(full))
                throw new DaemonConfigurationException($"--config: no file at '{full}'; give the path of an existing emulator.json");
            return full;
        }
        foreach (var dir in new[] { workingDirectory, baseDirectory })
        {
            string candidate = Path.Combine(dir, FileName);
            if (File.Exists(candidate)) return Path.GetFullPath(candidate);
        }
        return null;
    }
}
