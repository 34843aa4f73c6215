namespace OffloadEmu.Cli.Drive;

/// <summary>A request line the drive cannot carry out as written: answered with an <c>error</c> event, the session goes on.</summary>
internal sealed class DriveRequestException(string message) : Exception(message);
