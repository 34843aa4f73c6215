using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OffloadEmu.Daemon.Hosting;

namespace OffloadEmu.Daemon.Systemd;

/// <summary>
/// Tells systemd (Type=notify) that the daemon is ready once every service has started (devices open,
/// capture open), and that it is stopping before any service stops.
/// </summary>
internal sealed class SystemdNotifyService : IHostedLifecycleService
{
    private readonly SystemdNotifier _notifier;
    private readonly ILogger<SystemdNotifyService> _logger;

    public SystemdNotifyService(SystemdNotifier notifier, ILogger<SystemdNotifyService> logger)
    {
        _notifier = notifier;
        _logger = logger;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        Send("READY=1");
        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        Send("STOPPING=1");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Send(string state)
    {
        try
        {
            if (_notifier.Notify(state)) DaemonLog.Notified(_logger, state);
        }
        catch (SocketException ex)
        {
            // Readiness is advisory for us; systemd will time the unit out if it never arrives.
            DaemonLog.NotifyFailed(_logger, state, _notifier.SocketPath ?? "", ex);
        }
    }
}
