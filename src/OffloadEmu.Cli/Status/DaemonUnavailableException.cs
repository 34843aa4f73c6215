namespace OffloadEmu.Cli.Status;

/// <summary>No daemon answers on the socket, or it went away: one line on stderr and exit status 1.</summary>
internal sealed class DaemonUnavailableException(string message) : Exception(message);
