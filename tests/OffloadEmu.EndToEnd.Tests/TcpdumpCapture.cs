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

    internal TcpdumpCapture(string netns, string ifname, int snapLength = 0)
    {
        FilePath = Path.Combine(Path.GetTempPath(), $"oe-e2e-{netns}-{ifname}-{Guid.NewGuid():N}.pcap");
        // --immediate-mode: without it frames wait in a TPACKET_V3 block and are lost when tcpdump is
        // stopped before the block times out. "ip netns exec" execs tcpdump in place, so the PID we hold is tcpdump's own.
        var psi = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "netns", "exec", netns, "tcpdump", "--immediate-mode", "-i", ifname, "-n", "-U", "-s", snapLength.ToString(System.Globalization.CultureInfo.InvariantCulture), "-w", FilePath }) psi.ArgumentList.Add(a);
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

    /// <summary>After <see cref="Stop()"/>: the frames tcpdump says the kernel dropped before it could read them
    /// ("N packets dropped by kernel"); 0 when it said nothing.</summary>
    internal int KernelDrops
    {
        get
        {
            var m = System.Text.RegularExpressions.Regex.Match(Stderr, @"(\d+) packets? dropped by kernel");
            return m.Success ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        }
    }

    /// <summary>
    /// Waits (up to 5 s) until the file holds <paramref name="minimumFrames"/> frames, then stops
    /// tcpdump by PID (SIGTERM) and waits for it to exit. tcpdump drops whatever is still in its
    /// ring when it is stopped, and on a loaded machine it lags the exchange, so stopping right
    /// after the last reply loses frames.
    /// </summary>
    internal void Stop(int minimumFrames)
    {
        var sw = Stopwatch.StartNew();
        while (!_process.HasExited && FramesWritten() < minimumFrames && sw.ElapsedMilliseconds < 5000) Thread.Sleep(20);
        Thread.Sleep(100);   // anything just after the expected frames (e.g. a retransmission) too
        Stop();
    }

    /// <summary>Frames in the pcap file so far (walks the record headers; -U makes tcpdump write whole records).</summary>
    internal int FramesWritten()
    {
        try
        {
            using var fs = new FileStream(FilePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (fs.Length < 24) return 0;
            var header = new byte[16];
            long position = 24;
            int frames = 0;
            while (position + 16 <= fs.Length)
            {
                fs.Position = position;
                fs.ReadExactly(header);
                uint captured = BitConverter.ToUInt32(header, 8);   // file written on this host: native order
                position += 16 + captured;
                if (position > fs.Length) break;
                frames++;
            }
            return frames;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Stops tcpdump by PID (SIGTERM) and waits for it to exit.</summary>
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
