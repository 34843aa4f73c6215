using OffloadEmu.Link;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Protocol;
using OffloadEmu.Target;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// The one place a command gets its <see cref="Chimney.IOffloadTarget"/>: embedded on <c>--link</c>, or the daemon's
/// target over its control socket (<c>--daemon</c>, <see cref="RemoteOffloadTarget"/>).
/// </summary>
internal static class TargetFactory
{

    /// <summary>Test seam: when set and it returns a device for the link, that device is used instead of opening one
    /// (in-memory links in unit tests).</summary>
    internal static Func<LinkSpec, ILinkDevice?>? DeviceOverride { get; set; }

    /// <summary>Opens the target the settings ask for (started by <see cref="TargetSession.Start"/>).</summary>
    /// <exception cref="CliUsageException">The link cannot be opened, or <c>--daemon</c> was given.</exception>
    public static TargetSession Open(SessionSettings settings)
    {
        if (settings.Link is not { } link) return OpenDaemon(settings.DaemonSocket!);
        if (settings.Queues > 1 && DeviceOverride?.Invoke(link) is null) return OpenQueues(link, settings);
        ILinkDevice top;
        Link.Decorators.CaptureDevice? capture = null;
        if (DeviceOverride?.Invoke(link) is { } given)
        {
            top = given;
            if (settings.CaptureFile is { } file)
            {
                capture = new Link.Decorators.CaptureDevice(top, file);
                top = capture;
            }
        }
        else
        {
            (top, capture) = LinkOpener.Open(link, settings.CaptureFile, settings.SegmentationOffload);
        }
        OffloadTarget? target = null;
        try
        {
            target = new OffloadTarget(top, new OffloadTargetOptions
            {
                BusyPollMicroseconds = settings.BusyPollMicroseconds,
                TransmitThread = settings.TransmitThread,
                InlineCompletions = settings.InlineCompletions,
            });
            string offload = target.SegmentationOffload ? ", segmentation offload" : "";
            string description = $"{link} (mac {top.MacAddress}, mtu {top.Mtu}{offload})";
            var started = target;
            return new TargetSession(target, description, () => started.Start(), target, top, capture);
        }
        catch
        {
            target?.Dispose();
            top.Dispose();
            throw;
        }
    }

    // --queues N: one engine loop per queue of the link (docs/target.md, "Several link queues").
    private static TargetSession OpenQueues(LinkSpec link, SessionSettings settings)
    {
        var (tops, capture) = LinkOpener.OpenQueues(link, settings.CaptureFile, settings.SegmentationOffload, settings.Queues);
        OffloadTarget? target = null;
        try
        {
            target = new OffloadTarget(tops, new OffloadTargetOptions
            {
                BusyPollMicroseconds = settings.BusyPollMicroseconds,
                TransmitThread = settings.TransmitThread,
                InlineCompletions = settings.InlineCompletions,
            });
            string offload = target.SegmentationOffload ? ", segmentation offload" : "";
            string description = $"{link} (mac {tops[0].MacAddress}, mtu {tops[0].Mtu}, {tops.Length} queues{offload})";
            var started = target;
            return new TargetSession(target, description, () => started.Start(), target, tops[0], capture, tops[1..]);
        }
        catch
        {
            target?.Dispose();
            for (int i = tops.Length - 1; i >= 0; i--) tops[i].Dispose();
            throw;
        }
    }

    private static TargetSession OpenDaemon(string socket)
    {
        RemoteOffloadTarget remote;
        try
        {
            remote = RemoteOffloadTarget.Connect(socket, new RemoteOffloadTargetOptions
            {
                ClientName = $"offloademu pid {Environment.ProcessId}",
                // The host stack's callbacks do not block: they run on the control receive thread (docs/control.md).
                InlineHostCallbacks = Environment.GetEnvironmentVariable("OFFLOADEMU_INLINE_CALLBACKS") != "0",
            });
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException or ControlProtocolException or TimeoutException)
        {
            throw new CliUsageException($"--daemon {socket}: no offloademud answers ({ex.Message.TrimEnd('.')}); start it (scripts/offloademud.service) or check Control:Endpoint", 1);
        }
        string description = $"daemon {socket} (mac {remote.MacAddress}, mtu {remote.Mtu})";
        return new TargetSession(remote, description, start: null, runner: remote, device: null, capture: null);
    }
}
