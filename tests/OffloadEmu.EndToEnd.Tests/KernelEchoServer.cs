using System.Diagnostics;
using System.Globalization;
using OffloadEmu.Wire;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// socat echoing TCP on <c>ADDRESS:PORT</c> inside a test namespace (the kernel's TCP is the peer). "ip netns exec"
/// execs socat in place, so the PID held is socat's; Dispose ends it by that PID. <c>-b 4096</c> keeps socat's blocking
/// pipe writes within one page so it cannot deadlock against itself.
/// </summary>
internal sealed class KernelEchoServer : IDisposable
{
    private readonly Process _process;

    internal KernelEchoServer(string netns, Ipv4Address address, ushort port)
    {
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "netns", "exec", netns, "socat", "-b", "4096", $"TCP-LISTEN:{port},bind={address},reuseaddr", "PIPE" }) psi.ArgumentList.Add(a);
        _process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start socat");
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        var sw = Stopwatch.StartNew();
        string listening = $"{address}:{port}";
        while (!Cmd.Run("ip", "netns", "exec", netns, "ss", "-Hltn", $"sport = :{port}").Contains(listening, StringComparison.Ordinal))
        {
            if (_process.HasExited) throw new InvalidOperationException($"socat exited with {_process.ExitCode}");
            if (sw.ElapsedMilliseconds > 5000)
            {
                Dispose();
                throw new InvalidOperationException($"socat is not listening on {listening} after 5 s");
            }
            Thread.Sleep(20);
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Cmd.TryRun("kill", "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture));
            if (!_process.WaitForExit(2000)) _process.Kill();
        }
        _process.Dispose();
    }
}
