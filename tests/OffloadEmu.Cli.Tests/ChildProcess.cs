using System.Diagnostics;
using System.Text;

namespace OffloadEmu.Cli.Tests;

/// <summary>A child process with its output collected; ended by its own PID only (never by name).</summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private ChildProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The built offloademu (the Cli project is referenced, so its dll sits beside the tests), run by dotnet.</summary>
    internal static ChildProcess StartOffloademu(params string[] args)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        return Start(dotnet, [Path.Combine(AppContext.BaseDirectory, "offloademu.dll"), .. args]);
    }

    internal static ChildProcess Start(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        return new ChildProcess(Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file));
    }

    internal int Id => _process.Id;

    internal bool HasExited => _process.HasExited;

    internal string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    internal string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Waits for the exit; returns the exit code, or null after <paramref name="timeout"/>.</summary>
    internal int? WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout)) return null;
        _process.WaitForExit();   // drains the redirected streams
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);   // this PID and its children
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // exited meanwhile
        }
        _process.Dispose();
    }
}
