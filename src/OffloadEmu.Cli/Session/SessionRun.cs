using OffloadEmu.HostStack;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// The run of <c>connect</c> or <c>listen</c>: the host up, the work raced against <c>--timeout</c> and Ctrl-C, the
/// progress line, and one summary per connection (text or JSON). Errors are one line on stderr prefixed with the
/// command; exit 0 only when every connection went well.
/// </summary>
internal sealed class SessionRun
{
    private readonly string _command;
    private readonly SessionSettings _settings;
    private readonly TextWriter _stdout;
    private readonly TextWriter _stderr;
    private readonly List<TransferMeter> _meters = [];
    private CancellationTokenSource? _progressStop;
    private Task? _progress;
    private volatile string? _abortReason;

    public SessionRun(string command, SessionSettings settings, TextWriter stdout, TextWriter stderr)
    {
        _command = command;
        _settings = settings;
        _stdout = stdout;
        _stderr = stderr;
    }

    /// <summary>Exit status so far (1 once anything failed).</summary>
    public int ExitCode { get; private set; }

    /// <summary>Runs <paramref name="work"/> on a freshly opened host within the limits; returns the exit status.
    /// <paramref name="beforeStart"/>: see <see cref="SessionHost.Open"/>.</summary>
    public async Task<int> RunAsync(Func<SessionHost, SessionRun, Task> work, Action<HostStack.HostStack>? beforeStart = null)
    {
        SessionHost host;
        try
        {
            host = SessionHost.Open(_settings, beforeStart);
        }
        catch (CliUsageException ex)
        {
            Fail(ex.Message, ex.ExitCode);
            return ExitCode;
        }
        var interrupted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            interrupted.TrySetResult();
        };
        Console.CancelKeyPress += onCancel;
        using var stopDeadline = new CancellationTokenSource();
        try
        {
            var task = work(host, this);
            var deadline = _settings.Timeout is { } t ? Task.Delay(t, stopDeadline.Token) : Task.Delay(Timeout.Infinite, stopDeadline.Token);
            var first = await Task.WhenAny(task, deadline, interrupted.Task).ConfigureAwait(false);
            if (first != task)
            {
                _ = task.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                _abortReason = first == deadline ? $"timed out after {_settings.Timeout!.Value.TotalSeconds:0.###} s" : "interrupted";
                List<TransferMeter> meters;
                lock (_meters) meters = [.. _meters];
                bool transferring = meters.Any(m => !m.Finished);
                // OFFLOADEMU_TIMEOUT_STATE=1: each unfinished connection's state on the host and on the target, taken
                // before the abort and printed after the error lines (docs/cli.md, "Environment").
                var state = transferring && Environment.GetEnvironmentVariable("OFFLOADEMU_TIMEOUT_STATE") == "1"
                    ? await DescribeStuckAsync(host, meters).ConfigureAwait(false) : [];
                foreach (var m in meters) m.Socket?.Abort();
                // A transfer under way ends at once with the abort and prints its summary with the reason; waiting
                // for a connection does not.
                if (!transferring || await Task.WhenAny(task, Task.Delay(3000)).ConfigureAwait(false) != task)
                {
                    await StopProgressAsync().ConfigureAwait(false);   // the live display clears its rows: before the error line
                    Fail(_abortReason, 1);
                }
                foreach (var line in state) _stderr.WriteLine(line);
                _stderr.Flush();
            }
            else
            {
                await task.ConfigureAwait(false);
            }
        }
        catch (CliUsageException ex)
        {
            Fail(ex.Message, ex.ExitCode);
        }
        catch (Exception ex)
        {
            Fail($"{ex.GetType().Name}: {ex.Message}", 1);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            stopDeadline.Cancel();
            host.Dispose();
        }
        return ExitCode;
    }

    /// <summary>For each connection still moving data: one line of its host-side state and, with the embedded target,
    /// one of the target's (posts, indications, windows), each asked of its own thread within a second.</summary>
    private static async Task<List<string>> DescribeStuckAsync(SessionHost host, List<TransferMeter> meters)
    {
        var lines = new List<string>();
        IReadOnlyList<Target.OffloadedConnectionInfo> offloaded = [];
        var stats = host.Stack.Statistics;
        lines.Add(System.FormattableString.Invariant(
            $"  at the timeout: host stack frames dropped {stats.FramesDropped}, target retrieves {stats.TargetRetrieves} (last {stats.LastTargetRetrieveReason?.ToString() ?? "none"}), uploads {stats.Uploads}"));
        if (host.Target.Target is Target.OffloadTarget target)
        {
            var link = host.Target.Device?.Statistics;
            lines.Add(System.FormattableString.Invariant(
                $"  at the timeout: target frames dropped {target.DroppedFrames}; link frames in {link?.FramesIn}, out {link?.FramesOut}, dropped {link?.TotalDrops}"));
            var snapshot = target.SnapshotConnectionsAsync(256);
            if (await Task.WhenAny(snapshot, Task.Delay(1000)).ConfigureAwait(false) == snapshot) offloaded = snapshot.Result.Connections;
            else lines.Add("  at the timeout: the target did not answer its connection snapshot within 1 s");
        }
        foreach (var m in meters)
        {
            if (m.Finished || m.Socket is not { } s) continue;
            string name = $"{s.LocalIpAddress}:{s.LocalPort} -> {s.RemoteIpAddress}:{s.RemotePort}";
            var describe = s.DescribeAsync();
            lines.Add(await Task.WhenAny(describe, Task.Delay(1000)).ConfigureAwait(false) == describe
                ? $"  at the timeout, {name}: host {describe.Result}"
                : $"  at the timeout, {name}: the host stack did not answer within 1 s");
            foreach (var c in offloaded)
            {
                if (c.LocalPort != s.LocalPort || c.RemotePort != s.RemotePort || !c.RemoteAddress.Equals(s.RemoteIpAddress)) continue;
                lines.Add(System.FormattableString.Invariant(
                    $"  at the timeout, {name}: target {c.State} snd_una={c.SndUna} snd_nxt={c.SndNxt} rcv_nxt={c.RcvNxt} snd_wnd={c.SndWnd} rcv_wnd={c.RcvWnd} cwnd={c.CWnd} rto={c.Rto.TotalMilliseconds}ms backoff={c.RetransmitBackoff} send_queued={c.SendQueued} receive_buffered={c.ReceiveBuffered} receive_posts={c.ReceivePosts} indication_outstanding={c.IndicationOutstanding} indications_blocked={c.IndicationsBlocked} in={c.InSegments} out={c.OutSegments}"));
            }
        }
        return lines;
    }

    private async Task StopProgressAsync()
    {
        CancellationTokenSource? stop;
        Task? progress;
        lock (_meters)
        {
            (stop, progress) = (_progressStop, _progress);
            (_progressStop, _progress) = (null, null);
        }
        if (stop is null || progress is null) return;
        stop.Cancel();
        await Task.WhenAny(progress, Task.Delay(2000)).ConfigureAwait(false);
    }

    /// <summary>Reports an error line and makes the exit status non-zero.</summary>
    public void Fail(string message, int exitCode = 1)
    {
        _stdout.Flush();
        _stderr.WriteLine($"offloademu {_command}: {message}");
        _stderr.Flush();
        if (ExitCode == 0) ExitCode = exitCode;
    }

    // A synchronous query to the daemon, taken on a pool thread: with inline host callbacks (docs/control.md) this code
    // may continue on the control receive thread, which alone reads the reply.
    private static Task<ulong> TargetRetransmitsAsync(SessionHost host) => Task.Run(() => host.TargetRetransmits);

    /// <summary>Runs one connection's transfer with a progress line and prints its summary.</summary>
    public async Task TransferAsync(SessionHost host, OffloadSocket socket, TransferPlan plan, string mode, string local, string remote)
    {
        var meter = new TransferMeter { Socket = socket };
        lock (_meters) _meters.Add(meter);
        ulong retransmitsBefore = await TargetRetransmitsAsync(host).ConfigureAwait(false);
        using var stopProgress = new CancellationTokenSource();
        var progress = new ProgressLine(meter, _stdout, _settings.Json).RunAsync(stopProgress.Token);
        lock (_meters) (_progressStop, _progress) = (stopProgress, progress);
        var summary = await MoveAsync(host, socket, plan, mode, local, remote, meter, stream: null, stopProgress: true).ConfigureAwait(false);
        ulong retransmitsAfter = await TargetRetransmitsAsync(host).ConfigureAwait(false);
        summary = summary with { RetransmitsTarget = retransmitsAfter - retransmitsBefore };
        _stdout.Write(_settings.Json ? summary.ToJson() + Environment.NewLine : summary.ToText());
        _stdout.Flush();
        if (summary.Error is { } error) Fail(error, 1);
    }

    /// <summary>
    /// <c>connect --parallel N</c>: the streams' transfers at once, each with its own plan and meter (the same
    /// per-connection code as <see cref="TransferAsync"/>), one progress output for all, then each stream's summary and
    /// the SUM (text), or one JSON object with <c>streams</c> and <c>sum</c>. A stream that fails is named in its error
    /// line (<c>stream 3: ...</c>) and makes the exit status 1; the others run to their end. <paramref name="failed"/>:
    /// streams whose connect already failed (1-based number and error), reported with the others.
    /// </summary>
    public async Task ParallelAsync(SessionHost host, IReadOnlyList<(int Stream, OffloadSocket Socket, TransferPlan Plan)> streams,
        IReadOnlyList<(int Stream, string Error)> failed, int total, string mode, string remote)
    {
        var meters = new TransferMeter[streams.Count];
        for (int i = 0; i < meters.Length; i++) meters[i] = new TransferMeter { Socket = streams[i].Socket };
        lock (_meters) _meters.AddRange(meters);
        ulong retransmitsBefore = await TargetRetransmitsAsync(host).ConfigureAwait(false);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var stopProgress = new CancellationTokenSource();
        if (meters.Length > 0)   // none when every connect failed
        {
            var progress = new ProgressLine(meters, clock, _stdout, _settings.Json).RunAsync(stopProgress.Token);
            lock (_meters) (_progressStop, _progress) = (stopProgress, progress);
        }
        var runs = new Task<TransferSummary>[streams.Count];
        for (int i = 0; i < runs.Length; i++)
        {
            var (stream, socket, plan) = streams[i];
            runs[i] = MoveAsync(host, socket, plan, mode, SessionRun.Endpoint(socket.LocalAddress, socket.LocalPort), remote, meters[i], stream, stopProgress: false);
        }
        var summaries = await Task.WhenAll(runs).ConfigureAwait(false);
        double seconds = clock.Elapsed.TotalSeconds;
        await StopProgressAsync().ConfigureAwait(false);
        ulong retransmitsAfter = await TargetRetransmitsAsync(host).ConfigureAwait(false);
        var sum = new ParallelSummary
        {
            Command = _command,
            Mode = mode,
            Link = _settings.Where,
            Remote = remote,
            Offload = _settings.Offload.ToString(),
            UploadEvery = _settings.UploadEvery,
            Parallel = total,
            Seconds = seconds,
            Streams = summaries,
            ConnectFailures = failed,
            RetransmitsTarget = retransmitsAfter - retransmitsBefore,
            SendCompletions = host.Stack.Statistics.SendCompletionLatency.Count,
            SendCompletionP50Us = host.Stack.Statistics.SendCompletionLatency.Percentile(0.50),
            SendCompletionP99Us = host.Stack.Statistics.SendCompletionLatency.Percentile(0.99),
            SuperFrames = host.SuperFrames,
        };
        _stdout.Write(_settings.Json ? sum.ToJson() + Environment.NewLine : sum.ToText());
        _stdout.Flush();
        foreach (var (stream, error) in failed) Fail($"stream {stream}: {error}", 1);
        foreach (var s in summaries)
            if (s.Error is { } error) Fail($"stream {s.Stream}: {error}", 1);
    }

    // One connection's transfer to its end (or failure) and its figures; the target's retransmissions are left to the
    // caller (per interface: one connection's before/after, or a parallel run's).
    private async Task<TransferSummary> MoveAsync(SessionHost host, OffloadSocket socket, TransferPlan plan, string mode, string local, string remote,
        TransferMeter meter, int? stream, bool stopProgress)
    {
        TransferOutcome outcome;
        try
        {
            outcome = await new Transfer(socket, plan, meter).RunAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not CliUsageException)
        {
            socket.Abort();
            string failure = _abortReason is { } why
                ? $"{why} ({meter.BytesSent} bytes sent, {meter.BytesReceived} received)"
                : Transfer.Describe(ex, remote, meter);
            outcome = new TransferOutcome(failure, null, null, null);
        }
        meter.Stop();
        meter.Finished = true;
        if (stopProgress) await StopProgressAsync().ConfigureAwait(false);
        ulong hostRetransmits = 0;
        var statistics = socket.GetStatisticsAsync();
        if (await Task.WhenAny(statistics, Task.Delay(2000)).ConfigureAwait(false) == statistics)
            hostRetransmits = statistics.Result.HostTcp.RetransmittedSegments;
        var (offloads, uploads) = socket.OffloadCounts;
        var (hostSeconds, offloadedSeconds, handOverSeconds) = ProgressLine.Lived(meter);
        return new TransferSummary
        {
            Command = _command,
            Mode = mode,
            Link = _settings.Where,
            Local = local,
            Remote = remote,
            Offload = _settings.Offload.ToString(),
            UploadEvery = plan.UploadEvery,
            Seconds = meter.Elapsed,
            BytesSent = meter.BytesSent,
            BytesReceived = meter.BytesReceived,
            RetransmitsHost = hostRetransmits,
            TargetRetransmitsShared = stream is not null,
            Stream = stream,
            Offloads = offloads,
            Uploads = uploads,
            HandOverCycles = meter.HandOverCycles,
            HandOverCycleSeconds = meter.HandOverCycleTime.TotalSeconds,
            SecondsHost = hostSeconds,
            SecondsOffloaded = offloadedSeconds,
            SecondsHandOver = handOverSeconds,
            FinalLocation = (meter.LocationAtEnd ?? socket.Location).ToString().ToLowerInvariant(),
            EchoOk = outcome.EchoOk,
            Sha256Sent = outcome.Sha256Sent,
            Sha256Received = outcome.Sha256Received,
            Error = outcome.Error,
            SendCompletions = host.Stack.Statistics.SendCompletionLatency.Count,
            SendCompletionP50Us = host.Stack.Statistics.SendCompletionLatency.Percentile(0.50),
            SendCompletionP99Us = host.Stack.Statistics.SendCompletionLatency.Percentile(0.99),
            SuperFrames = host.SuperFrames,
        };
    }

    /// <summary>Times <paramref name="roundTrips"/> one-byte round trips against an echo peer and prints the figures.</summary>
    public async Task PingPongAsync(OffloadSocket socket, int roundTrips, string local, string remote, LatencyHistogram? sendCompletions = null)
    {
        var meter = new TransferMeter { Socket = socket };
        lock (_meters) _meters.Add(meter);
        PingPongResult result;
        try
        {
            result = await PingPong.RunAsync(socket, roundTrips).ConfigureAwait(false);
            result.SendCompletions = sendCompletions;
            // An orderly release, as a transfer ends: our FIN, then the echo server's, so its close completes (its FIN
            // is ACKed) before this process goes away. Closing at once raced the process exit: when the server's FIN came
            // after it, nothing ACKed it and the server waited out its whole timeout.
            await socket.ShutdownAsync().ConfigureAwait(false);
            var drain = new byte[256];
            while (await socket.ReadAsync(drain).ConfigureAwait(false) > 0) { }
            await socket.CloseAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not CliUsageException)
        {
            socket.Abort();
            Fail(_abortReason ?? Transfer.Describe(ex, remote, null), 1);
            return;
        }
        finally
        {
            meter.Finished = true;
        }
        string location = socket.Location.ToString().ToLowerInvariant();
        _stdout.Write(_settings.Json
            ? result.ToJson(_command, _settings.Where, local, remote, _settings.Offload.ToString(), _settings.BusyPollMicroseconds) + Environment.NewLine
            : result.ToText(_command, _settings.Where, local, remote, _settings.Offload.ToString(), _settings.BusyPollMicroseconds));
        _stdout.Flush();
    }

    /// <summary>"198.18.0.1:7".</summary>
    public static string Endpoint(Ipv4Address address, ushort port) => $"{address}:{port}";
}
