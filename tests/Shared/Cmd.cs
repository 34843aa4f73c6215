using System.Diagnostics;

namespace OffloadEmu.TestSupport;

/// <summary>Runs helper programs (ip, sysctl, ethtool, ping, tshark) for the privileged tests and fails loudly when they fail.
/// Shared by the test projects that drive the kernel (linked, not referenced: test code only).</summary>
internal static class Cmd
{
    /// <summary>Runs <paramref name="file"/> and returns its stdout; throws with stderr on a non-zero exit.</summary>
    internal static string Run(string file, params string[] args)
    {
        var (code, stdout, stderr) = TryRun(file, args);
        if (code != 0) throw new InvalidOperationException($"'{file} {string.Join(' ', args)}' exited {code}: {stderr.Trim()}");
        return stdout;
    }

    /// <summary>Runs <paramref name="file"/> and returns exit code, stdout and stderr.</summary>
    internal static (int Code, string Stdout, string Stderr) TryRun(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.GetAwaiter().GetResult());
    }

    /// <summary>The full path of <paramref name="tool"/> on PATH (or /usr/sbin, /sbin), or null.</summary>
    internal static string? Which(string tool)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(new[] { "/usr/sbin", "/sbin", "/usr/bin" });
        return dirs.Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
    }

    /// <summary>True when <paramref name="tool"/> is on PATH (or in /usr/sbin, /sbin).</summary>
    internal static bool Exists(string tool) => Which(tool) is not null;
}
