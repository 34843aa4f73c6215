using System.Net.Sockets;
using OffloadEmu.Control;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Protocol;
using OffloadEmu.Control.Status;

namespace OffloadEmu.Cli.Status;

/// <summary>
/// A monitor session on the daemon's control socket (docs/control.md: it may only query and receives nothing else) for
/// `status` and `stats`. Failures become <see cref="DaemonUnavailableException"/> with the one line to print.
/// </summary>
internal sealed class DaemonMonitor : IAsyncDisposable
{
    private readonly RemoteOffloadTarget _remote;

    private DaemonMonitor(RemoteOffloadTarget remote, string socket)
    {
        _remote = remote;
        Socket = socket;
    }

    public string Socket { get; }

    /// <summary>Connects as a monitor, or throws <see cref="DaemonUnavailableException"/> (no daemon, refused, no access).</summary>
    public static async Task<DaemonMonitor> ConnectAsync(string socket, string command, CancellationToken cancellationToken)
    {
        try
        {
            var remote = await RemoteOffloadTarget.ConnectAsync(socket, new RemoteOffloadTargetOptions
            {
                ClientName = $"offloademu {command} pid {Environment.ProcessId}", Role = ClientRole.Monitor, RequestTimeout = TimeSpan.FromSeconds(10),
            }, cancellationToken).ConfigureAwait(false);
            return new DaemonMonitor(remote, socket);
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            throw new DaemonUnavailableException(
                $"no offloademud answers on {socket} ({ConnectReason(socket, ex)}); start it (offloademud, or systemctl start offloademud) or give its socket with --daemon SOCKET (Control:Endpoint)");
        }
    }

    /// <summary>One snapshot, or <see cref="DaemonUnavailableException"/> when the daemon went away.</summary>
    public async Task<StatusSnapshot> QueryAsync(int maxConnections, CancellationToken cancellationToken)
    {
        try
        {
            return await _remote.QueryStatusAsync(maxConnections, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            throw new DaemonUnavailableException($"lost the daemon on {Socket} ({Reason(ex)}); it stopped, restarted or closed the session");
        }
    }

    private static bool IsConnectionFailure(Exception ex)
        => ex is SocketException or IOException or UnauthorizedAccessException or ControlProtocolException or TimeoutException or ObjectDisposedException;

    private static string ConnectReason(string socket, Exception ex) => ex switch
    {
        SocketException { SocketErrorCode: SocketError.AccessDenied } or UnauthorizedAccessException
            => "permission denied: run as root or as a member of the socket's group, Control:Group",
        SocketException when !socket.StartsWith('@') && !File.Exists(socket) => "no socket file there",
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } => "nothing listens on that socket file",
        _ => Reason(ex),
    };

    private static string Reason(Exception ex) => ex switch
    {
        TimeoutException => "no answer within 10 s",
        ControlProtocolException p => $"{p.Error}: {p.Message.TrimEnd('.')}",
        _ => ex.Message.TrimEnd('.'),
    };

    public ValueTask DisposeAsync() => _remote.DisposeAsync();
}
