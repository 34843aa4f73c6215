using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace OffloadEmu.Daemon.Tests;

/// <summary>The built offloademud run as a child process (killed by its PID only).</summary>
internal sealed partial class DaemonProcess : IDisposable
{
    private const int SIGTERM = 15;
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private DaemonProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The apphost copied beside the tests (the daemon project is referenced).</summary>
    internal static string Binary => Path.Combine(AppContext.BaseDirectory, "offloademud");

    /// <summary>Starts the daemon; <paramref name="prefix"/> (e.g. ip netns exec NS) runs before it.</summary>
    internal static DaemonProcess Start(string workingDirectory, IEnumerable<string> args, IDictionary<string, string>? environment = null,
        string[]? prefix = null, string? binary = null)
    {
        var all = (prefix ?? []).Append(binary ?? Binary).Concat(args).ToList();
        var psi = new ProcessStartInfo(all[0])
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in all.Skip(1)) psi.ArgumentList.Add(a);
        // A clean environment for our settings: no OFFLOADEMU_ or NOTIFY_SOCKET from whoever runs the tests.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("OFFLOADEMU_", StringComparison.OrdinalIgnoreCase) || k == "NOTIFY_SOCKET").ToList())
            psi.Environment.Remove(key);
        // Each daemon serves its control socket in its own directory (tests run side by side), unless a test says otherwise.
        psi.Environment["OFFLOADEMU_Control__Endpoint"] = Path.Combine(workingDirectory, "control.sock");
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        return new DaemonProcess(Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + Binary));
    }

    internal int Id => _process.Id;

    internal bool HasExited => _process.HasExited;

    /// <summary>The names of the daemon's threads now (/proc/PID/task/*/comm: at most 15 characters each).</summary>
    internal List<string> ThreadNames()
    {
        var names = new List<string>();
        foreach (var task in Directory.GetDirectories($"/proc/{_process.Id}/task"))
        {
            try
            {
                names.Add(File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n'));
            }
            catch (IOException)
            {
                // the thread ended between the listing and the read
            }
        }
        return names;
    }

    internal string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    internal string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Waits for exit and returns the exit code; fails the test after <paramref name="timeout"/>.</summary>
    internal int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout)) Assert.Fail($"offloademud did not exit within {timeout}; stdout:\n{Stdout}\nstderr:\n{Stderr}");
        _process.WaitForExit();   // drains the redirected streams
        return _process.ExitCode;
    }

    /// <summary>Copies the daemon (apphost, its assemblies and runtime files) into <paramref name="directory"/>, readable by
    /// everyone, and returns the apphost's path there: for runs as another user, who may not reach the build output (a
    /// clone under a 0700 directory).</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    internal static string CopyForAnyUser(string directory)
    {
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, (UnixFileMode)0x1ED); // 0755
        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory))
        {
            string name = Path.GetFileName(file);
            if (!(name.EndsWith(".dll", StringComparison.Ordinal) || name.StartsWith("offloademud", StringComparison.Ordinal))) continue;
            string copy = Path.Combine(directory, name);
            File.Copy(file, copy, overwrite: true);
            File.SetUnixFileMode(copy, name == "offloademud" ? (UnixFileMode)0x1ED : (UnixFileMode)0x1A4); // 0755 / 0644
        }
        return Path.Combine(directory, "offloademud");
    }

    /// <summary>Sends SIGTERM, as systemd does on stop.</summary>
    internal void Terminate()
    {
        if (Kill(_process.Id, SIGTERM) != 0) throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();   // this PID only
            _process.WaitForExit(5000);
        }
        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
