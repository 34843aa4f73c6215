using Microsoft.Extensions.Logging;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>The daemon's log messages. Event ids 6xxx are stable (architecture §7): tools may filter on them.</summary>
internal static partial class DaemonLog
{
    [LoggerMessage(EventId = 6000, Level = LogLevel.Information, Message = "offloademud started: link {Link}; capture {Capture}; impairment {Impairment}; control endpoint {Control}")]
    internal static partial void Started(ILogger logger, string link, string capture, string impairment, string control);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "offloademud stopping")]
    internal static partial void Stopping(ILogger logger);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Information, Message = "offloademud stopped: {Statistics}")]
    internal static partial void Stopped(ILogger logger, string statistics);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Information, Message = "Configuration read from {File}, then OFFLOADEMU_ environment variables, then the command line")]
    internal static partial void ConfigurationFile(ILogger logger, string file);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Warning, Message = "No emulator.json found (working directory, beside the binary); built-in defaults, OFFLOADEMU_ environment variables and the command line apply")]
    internal static partial void NoConfigurationFile(ILogger logger);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Information, Message = "Link open: {Device}")]
    internal static partial void LinkOpened(ILogger logger, string device);

    [LoggerMessage(EventId = 6011, Level = LogLevel.Information, Message = "Capturing to {File} ({Format})")]
    internal static partial void CaptureOpened(ILogger logger, string file, string format);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Information, Message = "Impairing ingress \"{Ingress}\", egress \"{Egress}\", seed {Seed}")]
    internal static partial void ImpairmentOn(ILogger logger, string ingress, string egress, ulong seed);

    [LoggerMessage(EventId = 6020, Level = LogLevel.Debug, Message = "Receive loop on {Link} started on thread {Thread}")]
    internal static partial void ReceiveLoopStarted(ILogger logger, string link, string thread);

    [LoggerMessage(EventId = 6023, Level = LogLevel.Debug, Message = "The offload target's engine reads {Link} itself ({Queues} queue(s), no receive thread)")]
    internal static partial void LinkReadByEngine(ILogger logger, string link, int queues);

    [LoggerMessage(EventId = 6021, Level = LogLevel.Debug, Message = "Receive loop on {Link} stopped after {Frames} frames")]
    internal static partial void ReceiveLoopStopped(ILogger logger, string link, long frames);

    [LoggerMessage(EventId = 6022, Level = LogLevel.Critical, Message = "Receive loop on {Link} failed; the daemon stops")]
    internal static partial void ReceiveLoopFailed(ILogger logger, string link, Exception exception);


    [LoggerMessage(EventId = 6024, Level = LogLevel.Warning, Message = "Receive loop on {Link} did not stop within {Milliseconds} ms; closing the device under it")]
    internal static partial void ReceiveLoopStuck(ILogger logger, string link, int milliseconds);

    [LoggerMessage(EventId = 6030, Level = LogLevel.Information, Message = "Stop step {Step}/4: {Description}")]
    internal static partial void StopStep(ILogger logger, int step, string description);

    [LoggerMessage(EventId = 6031, Level = LogLevel.Warning, Message = "Frame sink drain did not finish before the shutdown timeout; stopping anyway")]
    internal static partial void DrainTimedOut(ILogger logger);

    [LoggerMessage(EventId = 6040, Level = LogLevel.Debug, Message = "systemd notified: {State}")]
    internal static partial void Notified(ILogger logger, string state);

    [LoggerMessage(EventId = 6041, Level = LogLevel.Warning, Message = "systemd notification {State} to {Socket} failed")]
    internal static partial void NotifyFailed(ILogger logger, string state, string socket, Exception exception);

    [LoggerMessage(EventId = 6050, Level = LogLevel.Information, Message = "Offload target on {Link}: MAC {Mac}, capacity {Capacity} connections, {TicksPerSecond} ticks/s")]
    internal static partial void TargetStarted(ILogger logger, string link, string mac, int capacity, uint ticksPerSecond);

    [LoggerMessage(EventId = 6051, Level = LogLevel.Information, Message = "Offload target stopped: {FramesUp} frames passed up, {Dropped} dropped, {Unclaimed} with no host bound")]
    internal static partial void TargetStopped(ILogger logger, long framesUp, long dropped, long unclaimed);

    [LoggerMessage(EventId = 6052, Level = LogLevel.Error, Message = "A host callback failed on the completion queue")]
    internal static partial void HostCallbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 6053, Level = LogLevel.Information, Message = "Offload target runs {Loops} engine loops (Nic:Queues={Queues}), connections hashed to loops by their 4-tuple, over 1 device queue of {Link} ({Reason}): the link service reads it and hands each frame to the loop owning its connection; the loops' sends are serialized on it")]
    internal static partial void QueuesShareOne(ILogger logger, int loops, int queues, string link, string reason);

    [LoggerMessage(EventId = 6054, Level = LogLevel.Information, Message = "Offload target runs {Loops} engine loops over {DeviceQueues} device queues of {Link}, connections hashed to loops by their 4-tuple: one receive thread per queue hands each frame to the loop owning its connection, each loop sends on its own queue")]
    internal static partial void QueuesInUse(ILogger logger, int loops, int deviceQueues, string link);

    [LoggerMessage(EventId = 6060, Level = LogLevel.Information, Message = "Control protocol served on {Endpoint}")]
    internal static partial void ControlServing(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 6061, Level = LogLevel.Warning, Message = "Control protocol not served on {Endpoint}: the frame sink is not the offload target")]
    internal static partial void ControlNotServed(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 6075, Level = LogLevel.Information, Message = "Control messages mirrored into the capture on interface {Interface} (link type 252; scripts/wireshark/offloademu.lua)")]
    internal static partial void ControlCaptureOn(ILogger logger, string @interface);

    [LoggerMessage(EventId = 6076, Level = LogLevel.Warning, Message = "Control messages are not captured: a {Format} file holds one link type; set Capture:Format=pcapng (or Capture:Control=false to silence this)")]
    internal static partial void ControlCaptureUnsupported(ILogger logger, string format);

    [LoggerMessage(EventId = 6077, Level = LogLevel.Information, Message = "Control capture closed: {Written} messages written, {Dropped} dropped (queue full)")]
    internal static partial void ControlCaptureClosed(ILogger logger, long written, long dropped);

    [LoggerMessage(EventId = 6078, Level = LogLevel.Warning, Message = "Link {Device} is down: frames sent to it are dropped (counted as interface_down) until it is up again; offloaded connections are kept")]
    internal static partial void LinkDown(ILogger logger, string device);

    [LoggerMessage(EventId = 6079, Level = LogLevel.Information, Message = "Link {Device} is up again: {Dropped} frames were dropped while it was down")]
    internal static partial void LinkUp(ILogger logger, string device, long dropped);

    [LoggerMessage(EventId = 6080, Level = LogLevel.Error, Message = "Link {Device} lost: {Reason}. Offloaded connections fail (hardware failure), frames sent are dropped (counted as interface_down), status shows MEDIA_DISCONNECT; opening it again every {DelayMilliseconds}..{MaxDelayMilliseconds} ms")]
    public static partial void LinkLost(ILogger logger, string device, string reason, int delayMilliseconds, int maxDelayMilliseconds);

    [LoggerMessage(EventId = 6081, Level = LogLevel.Warning, Message = "{Connections} offloaded connections on the lost link {Device} failed (hardware failure, spec 6.6)")]
    public static partial void LinkLostConnectionsFailed(ILogger logger, string device, int connections);

    [LoggerMessage(EventId = 6082, Level = LogLevel.Information, Message = "Link {Device} cannot be opened yet (try {Attempt}): {Error}")]
    public static partial void LinkReattachFailed(ILogger logger, string device, int attempt, string error);

    [LoggerMessage(EventId = 6083, Level = LogLevel.Information, Message = "Link {Device} is back after {Attempts} tries, {Milliseconds} ms lost, {Dropped} frames dropped meanwhile: {Description}")]
    public static partial void LinkReattached(ILogger logger, string device, int attempts, long milliseconds, long dropped, string description);
}
