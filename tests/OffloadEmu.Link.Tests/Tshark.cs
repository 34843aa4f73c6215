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
            if (!Cmd.Exists("tshark"))
                Assert.Fail("tshark is not installed; install it or set OFFLOADEMU_SKIP_TSHARK=1.");
            return true;
        }
    }

    /// <summary>Output lines of <c>tshark -r file [args]</c>; fails the test on a non-zero exit.</summary>
    public static string[] Run(string file, params string[] args)
    {
        var (code, stdout, stderr) = Cmd.TryRun("tshark", ["-n", "-r", file, .. args], environment: null, timeoutMilliseconds: 60_000);
        Assert.True(code == 0, $"tshark exited with {code}: {stderr}");
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
}
