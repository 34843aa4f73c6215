using System.Net.Sockets;
using System.Text;

namespace OffloadEmu.Daemon.Systemd;

/// <summary>
/// sd_notify(3) in a few lines (the systemd hosting package is not available): one datagram per state
/// change to the Unix socket named by $NOTIFY_SOCKET; a leading '@' means the Linux abstract namespace.
/// </summary>
internal sealed class SystemdNotifier
{
    /// <summary>The environment variable systemd sets for Type=notify services.</summary>
    internal const string EnvironmentVariable = "NOTIFY_SOCKET";

    /// <summary>Creates a notifier for <paramref name="socketPath"/>; null or empty = not under systemd, notifications are no-ops.</summary>
    internal SystemdNotifier(string? socketPath) => SocketPath = string.IsNullOrEmpty(socketPath) ? null : socketPath;

    /// <summary>A notifier for the process's $NOTIFY_SOCKET.</summary>
    internal static SystemdNotifier FromEnvironment() => new(Environment.GetEnvironmentVariable(EnvironmentVariable));

    /// <summary>The socket, or null when there is none.</summary>
    internal string? SocketPath { get; }

    /// <summary>True when notifications are sent.</summary>
    internal bool IsEnabled => SocketPath is not null;

    /// <summary>Sends <paramref name="state"/> (e.g. "READY=1"); returns false when not under systemd.</summary>
    /// <exception cref="SocketException">The socket exists in the environment but cannot be reached.</exception>
    internal bool Notify(string state)
    {
        if (SocketPath is not { } path) return false;
        // Abstract socket names start with NUL in sun_path; systemd writes that NUL as '@'.
        string address = path[0] == '@' ? "\0" + path[1..] : path;
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.SendTo(Encoding.UTF8.GetBytes(state), new UnixDomainSocketEndPoint(address));
        return true;
    }
}
