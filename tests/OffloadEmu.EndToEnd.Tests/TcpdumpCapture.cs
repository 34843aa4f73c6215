using System.Diagnostics;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// tcpdump writing a pcap inside a namespace. Start returns only after tcpdump printed
/// "listening on" (it needs a moment before it captures anything); Stop sends SIGTERM to its PID
/// and waits, so the file is complete before it is read.
/// </summary>
internal sealed class TcpdumpCapture : IDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly System.Text.StringBuilder _stderr = new();

    internal TcpdumpCapture(string netns, string ifname)
    {
        FilePath = Path.Combine(Path.GetTempPath(), $"oe-e2e-{netns}-{ifname}-{Guid.NewGuid():N}.pcap");
        // --immediate-mode: without it frames wait in a TPACKET_V3 block and are lost when tcpdump is
        // stopped before the block times out. "ip netns exec" execs tcpdump in place, so the PID we hold is tcpdump's own.
        var psi = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "netns", "exec", netns, "tcpdump", "--immediate-mode", "-i", ifname, "-n", "-U", "-s", "0", "-w", FilePath }) psi.ArgumentList.Add(a);
        _process = new Process { StartInfo = psi };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderr) _stderr.AppendLine(e.Data);
            if (e.Data.Contains("listening on", StringComparison.Ordinal)) _listening.TrySetResult();
        };
        _process.Start();
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        if (!_listening.Task.Wait(TimeSpan.FromSeconds(10)))
        {
            Dispose();
            throw new InvalidOperationException($"tcpdump did not start listening: {Stderr}");
        }
    }

    /// <summary>The pcap file.</summary>
    internal string FilePath { get; }

    /// <summary>What tcpdump printed on stderr.</summary>
    internal string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Stops tcpdump by PID (SIGTERM, so it flushes) and waits for it to exit.</summary>
    internal void Stop()
    {
        if (_process.HasExited) return;
        Cmd.TryRun("kill", "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (!_process.WaitForExit(5000))
        {
            _process.Kill();
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        try { Stop(); } catch (InvalidOperationException) { }
        _process.Dispose();
        try { File.Delete(FilePath); } catch (IOException) { }
    }
}
