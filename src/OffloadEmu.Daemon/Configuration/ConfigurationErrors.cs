using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using OffloadEmu.Daemon.Options;

namespace OffloadEmu.Daemon.Configuration;

/// <summary>Turns the exceptions of a failed start that mean "the configuration is wrong" into one line each.</summary>
internal static partial class ConfigurationErrors
{
    /// <summary>The lines to print for <paramref name="exception"/>, or null when it is not a configuration error.</summary>
    internal static IReadOnlyList<string>? Describe(Exception? exception)
    {
        if (exception is null) return null;
        var lines = new List<string>();
        return Collect(exception, lines) ? lines : null;
    }

    /// <summary>True when <paramref name="exception"/> is an expected configuration error (logged by us as one line, not as a stack trace).</summary>
    internal static bool IsConfigurationError(Exception? exception) => Describe(exception) is not null;

    private static bool Collect(Exception ex, List<string> lines)
    {
        switch (ex)
        {
            case DaemonConfigurationException d:
                lines.Add(d.Message);
                return true;
            case OptionsValidationException v:
                lines.AddRange(v.Failures);
                return true;
            case AggregateException a:
                foreach (var inner in a.InnerExceptions)
                    if (!Collect(inner, lines)) return false;
                return lines.Count > 0;
            case InvalidOperationException when BindingFailure().Match(ex.Message) is { Success: true } m:
                lines.Add(DescribeBinding(m.Groups["value"].Value, m.Groups["key"].Value, m.Groups["type"].Value));
                return true;
            case InvalidOperationException when UnknownKeys().Match(ex.Message) is { Success: true } m
                                                && Sections.TryGetValue(m.Groups["type"].Value, out var section):
                foreach (Capture name in m.Groups["name"].Captures)
                    lines.Add(DescribeUnknown(section, name.Value));
                return true;
            default:
                return false;
        }
    }

    private static string DescribeBinding(string value, string key, string typeName)
    {
        var type = Type.GetType(typeName) ?? FindType(typeName);
        string expected = type switch
        {
            // Link kinds and capture formats are written in lower case in emulator.json; flags enums keep their names.
            { IsEnum: true } when type.IsDefined(typeof(FlagsAttribute), false) => "one of " + string.Join(", ", Enum.GetNames(type).Where(n => n != "None")),
            { IsEnum: true } => "one of " + string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant())),
            _ when type == typeof(bool) => "true or false",
            _ when type == typeof(int) => $"a whole number ({int.MinValue}..{int.MaxValue})",
            _ when type == typeof(long) => "a whole number",
            _ when type == typeof(ulong) => $"a whole number (0..{ulong.MaxValue})",
            _ => "a value of type " + (type?.Name ?? typeName),
        };
        // The binder's inner message (a TypeConverter's) adds nothing the key and the allowed values do not say.
        return $"{key}: '{value}' is not valid; use {expected}";
    }

    // The options types by full name, with the configuration path they are bound from.
    private static readonly Dictionary<string, (string Path, Type Type)> Sections = new[]
    {
        (LinkOptions.SectionName, typeof(LinkOptions)),
        (NicOptions.SectionName, typeof(NicOptions)),
        (NicOptions.SectionName + ":Capabilities", typeof(NicCapabilitiesOptions)),
        (OffloadParametersOptions.SectionName, typeof(OffloadParametersOptions)),
        (PoliciesOptions.SectionName, typeof(PoliciesOptions)),
        (CaptureFileOptions.SectionName, typeof(CaptureFileOptions)),
        (ImpairmentOptions.SectionName, typeof(ImpairmentOptions)),
        (ControlOptions.SectionName, typeof(ControlOptions)),
        (MetricsOptions.SectionName, typeof(MetricsOptions)),
    }.ToDictionary(x => x.Item2.FullName!, x => (x.Item1, x.Item2));

    private static string DescribeUnknown((string Path, Type Type) section, string name)
    {
        var known = section.Type.GetProperties().Where(p => p.CanWrite).Select(p => p.Name);
        return $"{section.Path}:{name}: unknown setting; check the spelling ({section.Path} has {string.Join(", ", known)})";
    }

    // ErrorOnUnknownConfiguration: "... were not found on the instance of T: 'A', 'B'".
    [GeneratedRegex(@"not found on the instance of (?<type>[\w.+]+): (?:'(?<name>[^']*)'(?:, )?)+")]
    private static partial Regex UnknownKeys();

    private static Type? FindType(string name)
    {
        // Nullable<T> and our own enums are not found by Type.GetType without the assembly name.
        var m = NullableType().Match(name);
        if (m.Success) name = m.Groups["inner"].Value;
        return Type.GetType(name) ?? typeof(ConfigurationErrors).Assembly.GetType(name)
            ?? typeof(Link.ILinkDevice).Assembly.GetType(name);
    }

    // Microsoft.Extensions.Configuration.Binder: "Failed to convert configuration value 'x' at 'A:B' to type 'T'."
    [GeneratedRegex(@"configuration value '(?<value>.*)' at '(?<key>[^']+)' to type '(?<type>[^']+)'", RegexOptions.Singleline)]
    private static partial Regex BindingFailure();

    [GeneratedRegex(@"^System\.Nullable`1\[\[?(?<inner>[^,\]]+)")]
    private static partial Regex NullableType();
}
