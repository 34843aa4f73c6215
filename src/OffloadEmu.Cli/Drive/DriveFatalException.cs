namespace OffloadEmu.Cli.Drive;

/// <summary>The session cannot go on (no daemon on the socket): one line on stderr, exit 1.</summary>
internal sealed class DriveFatalException(string message) : Exception(message);
