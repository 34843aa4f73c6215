using OffloadEmu.Link;
using OffloadEmu.Target;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// The one place a command gets its <see cref="Chimney.IOffloadTarget"/>: embedded on <c>--link</c> now; the
/// daemon's RemoteOffloadTarget over <c>--daemon</c> plugs in here when the control protocol lands.
/// </summary>
internal static class TargetFactory
{
    /// <summary>The message for <c>--daemon</c> until the control protocol exists.</summary>
    public const string DaemonNotAvailable = "not available yet: use --link";

    /// <summary>Test seam: when set and it returns a device for the link, that device is used instead of opening one
    /// (in-memory links in unit tests).</summary>
    internal static Func<LinkSpec, ILinkDevice?>? DeviceOverride { get; set; }

    /// <summary>Opens the target the settings ask for (started by <see cref="TargetSession.Start"/>).</summary>
    /// <exception cref="CliUsageException">The link cannot be opened, or <c>--daemon</c> was given.</exception>
    public static TargetSession Open(SessionSettings settings)
    {
        if (settings.Link is not { } link) throw new CliUsageException(DaemonNotAvailable);
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
            (top, capture) = LinkOpener.Open(link, settings.CaptureFile);
        }
        OffloadTarget? target = null;
        try
        {
            target = new OffloadTarget(top);
            string description = $"{link} (mac {top.MacAddress}, mtu {top.Mtu})";
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
}
