using System.Diagnostics;

namespace OffloadEmu.Cli.Tests;

/// <summary>Runs tcpdump/tshark as the reference. A missing tool fails the test: scripts/test.sh installs them.</summary>
internal static class ExternalTool
{
    public static (int ExitCode, string Stdout, string Stderr) Run(string tool, string arguments, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(tool, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new InvalidOperationException($"{tool} did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"{tool} is not installed ({ex.Message}); scripts/test.sh installs it (apt-get install {tool}).", ex);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(60_000)) { p.Kill(true); throw new TimeoutException($"{tool} {arguments} did not finish in 60 s"); }
            return (p.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
