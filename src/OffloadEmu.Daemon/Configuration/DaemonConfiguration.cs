using System.Collections;
using Microsoft.Extensions.Configuration;

namespace OffloadEmu.Daemon.Configuration;

/// <summary>
/// Adds the daemon's configuration sources in their fixed order of precedence (architecture §7):
/// emulator.json, then <c>OFFLOADEMU_</c> environment variables, then the command line (last wins).
/// </summary>
internal static class DaemonConfiguration
{
    /// <summary>Prefix of the environment variables read (stripped; "__" separates sections).</summary>
    internal const string EnvironmentPrefix = "OFFLOADEMU_";

    /// <summary>Adds the three sources to <paramref name="builder"/>.</summary>
    /// <param name="builder">The (empty) configuration of the host.</param>
    /// <param name="configFile">emulator.json, or null for none.</param>
    /// <param name="environment">Environment variables (null = the process's); a parameter so tests need not touch the process environment.</param>
    /// <param name="commandLine">Arguments without <c>--config</c>.</param>
    /// <exception cref="DaemonConfigurationException">The file is not valid JSON or an argument is malformed.</exception>
    internal static void AddSources(IConfigurationBuilder builder, string? configFile, IDictionary? environment, string[] commandLine)
    {
        if (configFile is not null)
        {
            // Read eagerly so a syntax error is reported here, naming the file, instead of deep inside Build.
            byte[] json = File.ReadAllBytes(configFile);
            try
            {
                new ConfigurationBuilder().AddJsonStream(new MemoryStream(json)).Build();
            }
            catch (Exception ex) when (ex is FormatException or InvalidDataException or System.Text.Json.JsonException)
            {
                string reason = (ex.InnerException ?? ex).Message.ReplaceLineEndings(" ");
                throw new DaemonConfigurationException($"{configFile}: not valid JSON ({reason}); fix the file or point --config at another one", ex);
            }
            builder.AddJsonStream(new MemoryStream(json));
        }

        builder.AddInMemoryCollection(EnvironmentSettings(environment ?? Environment.GetEnvironmentVariables()));

        CheckCommandLine(commandLine);
        try
        {
            builder.AddCommandLine(commandLine);
            // The command-line provider parses on Load; do it now so a malformed argument is a configuration error.
            new ConfigurationBuilder().AddCommandLine(commandLine).Build();
        }
        catch (FormatException ex)
        {
            throw new DaemonConfigurationException($"command line: {ex.Message.TrimEnd('.')}; write settings as --Section:Key=value (e.g. --Link:Interface=oe0)", ex);
        }
    }

    /// <summary>
    /// Rejects what the command-line provider would silently ignore or misread: bare words and keys
    /// without a section ("--verbose"), so a typo is reported instead of doing nothing.
    /// </summary>
    private static void CheckCommandLine(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
                throw new DaemonConfigurationException($"command line: '{a}' is not a setting; write settings as --Section:Key=value (e.g. --Link:Interface=oe0), see --help");
            int eq = a.IndexOf('=', StringComparison.Ordinal);
            string key = eq < 0 ? a[2..] : a[2..eq];
            if (!key.Contains(':', StringComparison.Ordinal) || key.StartsWith(':') || key.EndsWith(':'))
                throw new DaemonConfigurationException($"command line: '{a}' is not a setting; write settings as --Section:Key=value (e.g. --Link:Interface=oe0), see --help");
            if (eq < 0) i++;   // "--Section:Key value": the next argument is the value
        }
    }

    /// <summary>
    /// The OFFLOADEMU_ variables as configuration keys, the same mapping as the environment-variable
    /// provider: prefix removed (case-insensitively), "__" turned into ':'.
    /// </summary>
    internal static IEnumerable<KeyValuePair<string, string?>> EnvironmentSettings(IDictionary environment)
    {
        var result = new List<KeyValuePair<string, string?>>();
        foreach (DictionaryEntry e in environment)
        {
            if (e.Key is not string key || !key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase)) continue;
            string name = key[EnvironmentPrefix.Length..].Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal);
            if (name.Length > 0) result.Add(new(name, e.Value as string));
        }
        // Deterministic order: the dictionary's order is unspecified, and a later duplicate would win.
        result.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return result;
    }
}
