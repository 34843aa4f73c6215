using Microsoft.Extensions.Logging;

namespace OffloadEmu.Control.Server;

/// <summary>Control server log events (5000-5099, architecture §7).</summary>
internal static partial class ControlLog
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "Control server listening on {Path}")]
    public static partial void Listening(ILogger logger, string path);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Control {Session} bound")]
    public static partial void SessionStarted(ILogger logger, string session);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Control {Session} closed (error {Error}): {Reason}")]
    public static partial void SessionClosed(ILogger logger, string session, string error, string reason);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Error, Message = "Control {Session} failed")]
    public static partial void SessionFailed(ILogger logger, string session, Exception exception);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Control server refused a client: {Reason}")]
    public static partial void Refused(ILogger logger, string reason);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "Control {Session} stalled mid-message for {Milliseconds} ms (read timeout {TimeoutMilliseconds} ms): closing it, its connections are aborted and its objects freed")]
    public static partial void SessionStalled(ILogger logger, string session, long milliseconds, long timeoutMilliseconds);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error, Message = "Control server accept loop failed")]
    public static partial void AcceptFailed(ILogger logger, Exception exception);
}
