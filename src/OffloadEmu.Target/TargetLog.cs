using Microsoft.Extensions.Logging;

namespace OffloadEmu.Target;

/// <summary>The target's log messages (event ids 3xxx, architecture §7).</summary>
internal static partial class TargetLog
{
    [LoggerMessage(3001, LogLevel.Information, "Offloaded {Connection}")]
    public static partial void Offloaded(ILogger logger, string connection);

    [LoggerMessage(3002, LogLevel.Information, "Uploaded {Connection}")]
    public static partial void Uploaded(ILogger logger, string connection);

    [LoggerMessage(3003, LogLevel.Warning, "Initiate refused {Block}: {Reason}")]
    public static partial void InitiateRefused(ILogger logger, string block, string reason);

    [LoggerMessage(3004, LogLevel.Warning, "{Kind} for unknown or terminated context 0x{Context:x}: completed with a failure status")]
    public static partial void UnknownContext(ILogger logger, string kind, ulong context);

    [LoggerMessage(3005, LogLevel.Debug, "{Connection}: event {Event} info {Info}")]
    public static partial void Event(ILogger logger, string connection, string @event, uint info);

    [LoggerMessage(3006, LogLevel.Error, "Request {Kind} failed inside the engine")]
    public static partial void RequestFailed(ILogger logger, string kind, Exception exception);

    [LoggerMessage(3007, LogLevel.Error, "{Connection}: internal fault, treated as a hardware failure")]
    public static partial void ConnectionFault(ILogger logger, string connection, Exception exception);

    [LoggerMessage(3008, LogLevel.Error, "Sending on {Device} failed")]
    public static partial void SendFailed(ILogger logger, string device, Exception exception);

    [LoggerMessage(3009, LogLevel.Warning, "Offload parameters refused: {Errors}")]
    public static partial void ParametersRefused(ILogger logger, string errors);

    [LoggerMessage(3010, LogLevel.Warning, "ReceiveReturn of an NBL the target did not indicate (ignored)")]
    public static partial void UnknownReturn(ILogger logger);

    [LoggerMessage(3011, LogLevel.Error, "Receiving on {Device} failed; the reader stops")]
    public static partial void ReceiveFailed(ILogger logger, string device, Exception exception);
}
