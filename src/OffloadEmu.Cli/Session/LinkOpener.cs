using System.Net.NetworkInformation;
using OffloadEmu.Link;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// Opens the device of <c>--link</c> and, with <c>--capture</c>, wraps it in the capture decorator (pcapng, so the
/// frames keep their direction). Failures a user can fix become one <see cref="CliUsageException"/> line (exit 1)
/// naming the link and the fix, in the daemon's words (src/OffloadEmu.Daemon LinkStackFactory).
/// </summary>
internal static class LinkOpener
{
    private const int EPERM = 1, ENOENT = 2, EACCES = 13, EBUSY = 16, ENODEV = 19, EINVAL = 22;

    /// <summary>Opens the stack; returns the top (what the target uses) and the capture layer, if any.
    /// On failure nothing stays open.</summary>
    public static (ILinkDevice Top, CaptureDevice? Capture) Open(LinkSpec link, string? captureFile, bool segmentationOffload = false)
    {
        var device = OpenDevice(link, segmentationOffload);
        if (captureFile is null) return (device, null);
        try
        {
            if (Path.GetDirectoryName(captureFile) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
            var capture = new CaptureDevice(device, captureFile, new CaptureOptions { Format = Link.Capture.CaptureFormat.PcapNg });
            return (capture, capture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            device.Dispose();
            throw new CliUsageException($"--capture: cannot create '{captureFile}' ({ex.Message.TrimEnd('.')})", 1, ex);
        }
    }

    /// <summary>
    /// <c>--queues N</c> (N &gt; 1): N queues of a multi-queue TAP (IFF_MULTI_QUEUE; one the command creates is made so)
    /// or N AF_PACKET sockets in one fanout group, each captured into the one file with <c>--capture</c>. Fewer queues
    /// than asked (a TAP made without <c>multi_queue</c>) is an error naming the fix: the embedded target reads each
    /// queue on its own loop and has no shared-queue reader as the daemon has. On failure nothing stays open.
    /// </summary>
    public static (ILinkDevice[] Tops, CaptureDevice? Capture) OpenQueues(LinkSpec link, string? captureFile, bool segmentationOffload, int queues)
    {
        ILinkDevice[] devices;
        string? refusal;
        try
        {
            devices = link.Kind switch
            {
                LinkKind.Tap => TapDevice.OpenQueues(new TapDeviceOptions { Name = link.Name, AttachOnly = false, Persist = false, SegmentationOffload = segmentationOffload }, queues, out refusal),
                LinkKind.Packet => OpenPacketQueues(link, queues, out refusal),
                _ => throw new CliUsageException($"--queues {queues}: --link {link} has one queue; use tap:NAME or packet:NAME", 2),
            };
        }
        catch (LinkDeviceException ex)
        {
            throw new CliUsageException(Describe(link, ex), 1, ex);
        }
        if (devices.Length != queues)
        {
            foreach (var d in devices) d.Dispose();
            throw new CliUsageException(link.Kind == LinkKind.Tap
                ? $"--queues {queues}: TAP '{link.Name}' has one queue (made without multi_queue); create it with 'ip tuntap add dev {link.Name} mode tap multi_queue' (OE_LAB_TAP_MULTI_QUEUE=1 scripts/lab.sh up) or drop --queues"
                : $"--queues {queues}: --link {link} opened {devices.Length} of {queues} queues ({refusal}); drop --queues", 1);
        }
        if (captureFile is null) return (devices, null);
        var tops = new ILinkDevice[devices.Length];
        try
        {
            if (Path.GetDirectoryName(captureFile) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
            var capture = new CaptureDevice(devices[0], captureFile, new CaptureOptions { Format = Link.Capture.CaptureFormat.PcapNg });
            tops[0] = capture;
            for (int i = 1; i < devices.Length; i++) tops[i] = capture.AddQueue(devices[i]);
            return (tops, capture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            foreach (var d in devices) d.Dispose();
            throw new CliUsageException($"--capture: cannot create '{captureFile}' ({ex.Message.TrimEnd('.')})", 1, ex);
        }
    }

    private static ILinkDevice[] OpenPacketQueues(LinkSpec link, int queues, out string? refusal)
    {
        RequireInterface(link);
        return PacketSocketDevice.OpenQueues(new PacketSocketDeviceOptions { InterfaceName = link.Name }, queues, out refusal);
    }

    private static ILinkDevice OpenDevice(LinkSpec link, bool segmentationOffload)
    {
        try
        {
            switch (link.Kind)
            {
                case LinkKind.Tap:
                    // Attach when it exists (scripts/lab.sh makes oe0 persistent), else create it for this run.
                    LinkDeviceException refused;
                    try
                    {
                        return new TapDevice(new TapDeviceOptions { Name = link.Name, AttachOnly = false, Persist = false, SegmentationOffload = segmentationOffload });
                    }
                    catch (LinkDeviceException ex) when (ex.Errno == EINVAL)
                    {
                        refused = ex;
                    }
                    // A TAP made with multi_queue refuses a single-queue attach: take one of its queues (as offloademud does
                    // with Nic:Queues=1). Refused again: the first error.
                    try
                    {
                        return new TapDevice(new TapDeviceOptions { Name = link.Name, AttachOnly = false, Persist = false, SegmentationOffload = segmentationOffload, MultiQueue = true });
                    }
                    catch (LinkDeviceException)
                    {
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(refused);
                        throw;
                    }
                case LinkKind.Packet:
                    RequireInterface(link);
                    return new PacketSocketDevice(new PacketSocketDeviceOptions { InterfaceName = link.Name });
                default:
                    if (!PcapDevice.IsAvailable)
                        throw new CliUsageException("--link pcap: libpcap cannot be loaded; install it (apt-get install libpcap0.8, Npcap on Windows) or use --link packet:NAME", 1);
                    if (OperatingSystem.IsLinux()) RequireInterface(link);
                    return new PcapDevice(new PcapDeviceOptions { InterfaceName = link.Name });
            }
        }
        catch (LinkDeviceException ex)
        {
            throw new CliUsageException(Describe(link, ex), 1, ex);
        }
        catch (DllNotFoundException ex)
        {
            throw new CliUsageException($"--link {link}: a native library cannot be loaded ({ex.Message})", 1, ex);
        }
    }

    private static void RequireInterface(LinkSpec link)
    {
        // getifaddrs: the calling process's network namespace, as the devices see it.
        if (!NetworkInterface.GetAllNetworkInterfaces().Any(i => string.Equals(i.Name, link.Name, StringComparison.Ordinal)))
            throw new CliUsageException($"--link {link}: no interface named '{link.Name}' in this network namespace; pick one from 'ip link' or run offloademu in its namespace (ip netns exec NS offloademu ...)", 1);
    }

    internal static string Describe(LinkSpec link, LinkDeviceException ex)
    {
        string what = ex.Message.ReplaceLineEndings(" ");
        return link.Kind switch
        {
            LinkKind.Tap when what.Contains("/dev/net/tun", StringComparison.Ordinal) => ex.Errno == ENOENT
                ? $"--link {link}: /dev/net/tun does not exist; load the tun module (modprobe tun)"
                : $"--link {link}: cannot open /dev/net/tun; run as root or with CAP_NET_ADMIN",
            LinkKind.Tap when ex.Errno == EBUSY => $"--link {link}: TAP '{link.Name}' is busy (another process, maybe offloademud, has it open)",
            LinkKind.Tap when ex.Errno is EPERM or EACCES => $"--link {link}: not allowed to open TAP '{link.Name}'; run as root or with CAP_NET_ADMIN",
            LinkKind.Tap when ex.Errno is EINVAL or ENODEV => $"--link {link}: '{link.Name}' exists but is not a TAP; use packet:{link.Name} or pcap:{link.Name} for an Ethernet interface",
            LinkKind.Packet when ex.Errno is EPERM or EACCES => $"--link {link}: an AF_PACKET socket needs CAP_NET_RAW; run as root",
            _ => $"--link {link}: cannot open: {what}",
        };
    }
}
