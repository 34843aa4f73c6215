using System.Diagnostics;

namespace OffloadEmu.Link.Tests;

/// <summary>
/// Runs tshark as a subprocess. A missing tshark fails the test, unless OFFLOADEMU_SKIP_TSHARK=1,
/// in which case <see cref="Available"/> is false and the caller returns early.
/// </summary>
internal static class Tshark
{
    public static bool Available
    {
        get
        {
            if (Environment.GetEnvironmentVariable("OFFLOADEMU_SKIP_TSHARK") == "1") return false;
            if (!File.Exists("/usr/bin/tshark") && !OnPath("tshark"))
                Assert.Fail("tshark is not installed; install it or set OFFLOADEMU_SKIP_TSHARK=1.");
            return true;
        }
    }

    /// <summary>Output lines of <c>tshark -r file [args]</c>; fails the test on a non-zero exit.</summary>
    public static string[] Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo("tshark") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-n");
        psi.ArgumentList.Add("-r");
        psi.ArgumentList.Add(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "tshark did not finish within 60 s");
        Assert.True(p.ExitCode == 0, $"tshark exited with {p.ExitCode}: {stderr.Result}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>One row per frame of the requested fields, separated by '|'.</summary>
    public static string[][] Fields(string file, params string[] fields)
    {
        var args = new List<string> { "-T", "fields", "-E", "separator=|" };
        foreach (var f in fields) { args.Add("-e"); args.Add(f); }
        return Run(file, args.ToArray()).Select(l => l.Split('|')).ToArray();
    }

    /// <summary>Frames tshark flags as malformed (or with error-level expert info).</summary>
    public static int Malformed(string file)
        => Run(file, "-o", "ip.check_checksum:TRUE", "-Y", "_ws.malformed || _ws.expert.severity == error").Length;

    private static bool OnPath(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, name)));
}
