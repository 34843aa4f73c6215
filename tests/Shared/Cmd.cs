using System.Diagnostics;

namespace OffloadEmu.TestSupport;

/// <summary>Runs helper programs (ip, sysctl, ethtool, ping, tshark) for the privileged tests and fails loudly when they fail.
/// Shared by the test projects (linked, not referenced: test code only).</summary>
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
        => TryRun(file, args, environment: null);

    /// <summary>
    /// Runs <paramref name="file"/> with extra <paramref name="environment"/> variables; a missing tool or a
    /// run longer than <paramref name="timeoutMilliseconds"/> fails with a message saying which.
    /// </summary>
    internal static (int Code, string Stdout, string Stderr) TryRun(string file, IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? environment, int timeoutMilliseconds = 120_000)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"{file} is not installed ({ex.Message}); scripts/test.sh installs what the tests need.", ex);
        }
        using (p)
        {
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit(timeoutMilliseconds))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"'{file} {string.Join(' ', psi.ArgumentList)}' did not finish in {timeoutMilliseconds / 1000} s");
            }
            return (p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
        }
    }

    /// <summary>
    /// Ends the test's own processes: each one still running is killed by its PID (never its tree or its name) and
    /// waited for up to 5 s; every one is disposed.
    /// </summary>
    internal static void KillEach(IEnumerable<Process> processes)
    {
        foreach (var p in processes)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill();   // this PID only
                    p.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
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
