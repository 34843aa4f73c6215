using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OffloadEmu.Control.Server;
using OffloadEmu.Daemon.Configuration;
using OffloadEmu.Daemon.Options;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// Serves the control protocol (docs/control.md) on <c>Control:Endpoint</c>: host-stack processes bind to the daemon's
/// offload target through it. Started after the link service (the target exists then).
/// </summary>
/// <remarks>Stop: first the target indicates NDIS_STATUS_UPLOAD_ALL and the drain waits while the sessions are still
/// open, so the connected hosts take every connection back; then the server closes the sessions (what a client left is
/// uploaded and freed) and removes its socket file. The link service stops after this one.</remarks>
internal sealed class ControlService : IHostedService, IAsyncDisposable
{
    private readonly IFrameSink _sink;
    private readonly ControlOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<ControlService> _logger;
    private readonly ControlCapture _capture;
    private readonly DaemonStatusSource _status;
    private ControlServer? _server;

    public ControlService(IFrameSink sink, IOptions<ControlOptions> options, ILoggerFactory loggers, ControlCapture capture, DaemonStatusSource status)
    {
        _capture = capture;
        _status = status;
        _sink = sink;
        _options = options.Value;
        _loggers = loggers;
        _logger = loggers.CreateLogger<ControlService>();
    }

    /// <summary>The running server (null when the sink is not the offload target, or before start).</summary>
    internal ControlServer? Server => _server;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled) return Task.CompletedTask;
        if (_sink is not TargetFrameSink { HostView: { } target })
        {
            DaemonLog.ControlNotServed(_logger, _options.Endpoint);
            return Task.CompletedTask;
        }
        // Mirrored into the capture when the link service attached a capture file that can hold them.
        var serverOptions = new ControlServerOptions
        {
            Path = _options.Endpoint,
            ParametersSource = ParametersOf(_sink),
            StatusSource = _status.SnapshotAsync,
            SocketGroup = _options.Group,
            ReadTimeout = TimeSpan.FromMilliseconds(_options.ReadTimeoutMilliseconds),
            Observer = _capture.Attached ? _capture : null,
            // The multiplexer writes small I/O completions and indications from the engine thread (docs/control.md).
            EngineCompletions = EngineWrites ? (_sink as TargetFrameSink)?.Target?.Completions : null,
        };
        var server = new ControlServer(target, serverOptions, _loggers.CreateLogger("OffloadEmu.Control"));
        try
        {
            server.Start();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            throw new DaemonConfigurationException($"Control:Endpoint: cannot serve '{_options.Endpoint}': {ex.Message.TrimEnd('.')}; "
                + "check the directory's permissions, or stop the other daemon using it", ex);
        }
        _server = server;
        DaemonLog.ControlServing(_logger, _options.Endpoint);
        return Task.CompletedTask;
    }

    /// <summary>False: every completion and indication reaches the control sessions through the completion worker, as
    /// before the engine wrote them itself (<c>OFFLOADEMU_ENGINE_WRITES=0</c>; for comparisons).</summary>
    internal static bool EngineWrites { get; set; } = Environment.GetEnvironmentVariable("OFFLOADEMU_ENGINE_WRITES") != "0";

    /// <summary>QueryParameters: what the target has in effect for new connections (docs/control.md).</summary>
    private static Func<OffloadEmu.Control.TargetParameters>? ParametersOf(IFrameSink sink)
        => sink is TargetFrameSink frameSink
            ? () => frameSink.Target is { } t
                ? new OffloadEmu.Control.TargetParameters
                {
                    Parameters = t.CurrentParameters, MinRto = t.CurrentTcpConfig.MinRto, MaxRto = t.CurrentTcpConfig.MaxRto,
                    FinWait2Timeout = t.CurrentTcpConfig.FinWait2Timeout, ChallengeAckInterval = t.CurrentTcpConfig.ChallengeAckInterval,
                }
                : new OffloadEmu.Control.TargetParameters { Status = OffloadEmu.Chimney.NdisStatus.Failure }
            : null;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not { } server) return;
        try
        {
            await _sink.DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            DaemonLog.DrainTimedOut(_logger);
        }
        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        var server = Interlocked.Exchange(ref _server, null);
        if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
    }
}
