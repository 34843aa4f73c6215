using Microsoft.Extensions.Logging;

namespace OffloadEmu.HostStack;

/// <summary>The host stack's log messages (event ids 4xxx, architecture §7). None is on the per-segment path.</summary>
internal static partial class HostLog
{
    [LoggerMessage(4001, LogLevel.Information, "Offloaded {Connection}")]
    public static partial void Offloaded(ILogger logger, string connection);

    [LoggerMessage(4002, LogLevel.Warning, "Offload of {Connection} failed ({Status}); it stays in host mode")]
    public static partial void OffloadFailed(ILogger logger, string connection, string status);

    [LoggerMessage(4003, LogLevel.Information, "Uploaded {Connection} (state {State}, {SendBytes} bytes to send, {ReceiveBytes} bytes received back)")]
    public static partial void Uploaded(ILogger logger, string connection, string state, long sendBytes, int receiveBytes);

    [LoggerMessage(4004, LogLevel.Information, "{Connection}: target event {Event} info {Info}")]
    public static partial void TargetEvent(ILogger logger, string connection, string @event, uint info);

    [LoggerMessage(4005, LogLevel.Warning, "Neighbour resolution (ARP, or IPv6 neighbour discovery) of {Address} failed after {Requests} requests")]
    public static partial void ArpFailed(ILogger logger, string address, int requests);

    [LoggerMessage(4006, LogLevel.Debug, "Connection {Connection} closed{Reason}")]
    public static partial void Closed(ILogger logger, string connection, string reason);

    [LoggerMessage(4007, LogLevel.Warning, "Adapter status {Status}")]
    public static partial void AdapterStatus(ILogger logger, string status);
}
