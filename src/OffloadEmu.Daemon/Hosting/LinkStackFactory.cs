using System.Net.NetworkInformation;
using Microsoft.Extensions.Logging;
using OffloadEmu.Daemon.Configuration;
using OffloadEmu.Daemon.Options;
using OffloadEmu.Link;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// Opens the configured device and wraps it: Impairment innermost (so the capture shows what the
/// emulator itself sent and was given), then Capture, then Tracing. Every failure a user can fix
/// becomes a <see cref="DaemonConfigurationException"/> naming the setting and the fix.
/// </summary>
internal sealed class LinkStackFactory
{
    /// <summary>Logger category of the per-frame tracer (enable at Verbose/Trace to log every frame).</summary>
    internal const string TraceCategory = "OffloadEmu.Link.Trace";

    // errno values the messages distinguish (Linux).
    private const int EPERM = 1, ENOENT = 2, EBUSY = 16, ENODEV = 19, EINVAL = 22, EACCES = 13;

    private readonly ILoggerFactory _loggers;
    private readonly TimeProvider _time;

    public LinkStackFactory(ILoggerFactory loggers, TimeProvider time)
    {
        _loggers = loggers;
        _time = time;
    }

    /// <summary>
    /// Opens the stack over <paramref name="queues"/> queues of the link when it can have them (a multi-queue TAP, an
    /// AF_PACKET fanout group) and nothing asks for one queue (impairment), else over one queue with
    /// <see cref="LinkStack.SingleQueueReason"/> saying why. On failure nothing stays open.
    /// </summary>
    /// <exception cref="DaemonConfigurationException">The device, impairment or capture cannot be set up as configured.</exception>
    internal LinkStack Open(LinkOptions link, CaptureFileOptions capture, ImpairmentOptions impairment, FramePool pool, int queues)
    {
        if (queues <= 1) return Open(link, capture, impairment, pool);
        string? reason = SingleQueueReasonOf(link, impairment);
        if (reason is not null) return Open(link, capture, impairment, pool, reason);
        var devices = OpenQueues(link, queues, out string? refusal);
        if (devices.Length != queues)
        {
            // Fewer than asked: the loops share the first queue as with a single-queue link (the hash stays the same).
            foreach (var d in devices) d.Dispose();
            return Open(link, capture, impairment, pool, $"{devices.Length} of {queues} queues opened: {refusal}");
        }
        return OpenMultiQueue(devices, capture);
    }

    /// <summary>Why <paramref name="link"/> (with <paramref name="impairment"/>) runs over one queue whatever Nic:Queues
    /// says; null when it can have several.</summary>
    internal static string? SingleQueueReasonOf(LinkOptions link, ImpairmentOptions impairment)
    {
        if (link.Kind is LinkKind.Pcap) return "Link:Kind=pcap: libpcap opens one queue";
        if (link.Kind is LinkKind.Memory) return "Link:Kind=memory: the in-memory cable has one queue";
        if (link.Kind is not (LinkKind.Tap or LinkKind.Packet)) return $"Link:Kind={link.Kind.ToString().ToLowerInvariant()} has one queue";
        if (!string.IsNullOrWhiteSpace(impairment.Ingress) || !string.IsNullOrWhiteSpace(impairment.Egress))
            return "Impairment: the seeded loss, delay and rate apply to one frame sequence";
        return null;
    }

    private LinkStack Open(LinkOptions link, CaptureFileOptions capture, ImpairmentOptions impairment, FramePool pool, string reason)
    {
        var stack = Open(link, capture, impairment, pool);
        return new LinkStack(stack.Queues, stack.Devices, stack.Capture, stack.MemoryPeer, stack.Description)
        {
            Supervisor = stack.Supervisor, Supervisors = stack.Supervisors, SingleQueueReason = reason,
        };
    }

    /// <summary>The device queues, each under its supervisor, capture view (one file) and tracer.</summary>
    private LinkStack OpenMultiQueue(ILinkDevice[] devices, CaptureFileOptions capture)
    {
        string description = $"{devices[0].ToString() ?? devices[0].Name}, {devices.Length} queues";
        var supervisors = new SupervisedDevice[devices.Length];
        for (int i = 0; i < devices.Length; i++) supervisors[i] = new SupervisedDevice(devices[i]);
        var tops = new ILinkDevice[devices.Length];
        for (int i = 0; i < tops.Length; i++) tops[i] = supervisors[i];
        CaptureDevice? captureDevice = null;
        try
        {
            if (!string.IsNullOrEmpty(capture.File))
            {
                captureDevice = OpenCapture(tops[0], capture);
                tops[0] = captureDevice;
                for (int i = 1; i < tops.Length; i++) tops[i] = captureDevice.AddQueue(tops[i]);
            }
            var logger = _loggers.CreateLogger(TraceCategory);
            for (int i = 0; i < tops.Length; i++) tops[i] = new TracingDevice(tops[i], logger, new TcpdumpFrameFormatter(), LogLevel.Trace);
            return new LinkStack(tops, supervisors, captureDevice, null, description) { Supervisor = supervisors[0], Supervisors = supervisors };
        }
        catch
        {
            for (int i = tops.Length - 1; i >= 0; i--) tops[i].Dispose();
            throw;
        }
    }

    /// <summary>Opens <paramref name="queues"/> queues of a tap or packet link (fewer when the link refuses more;
    /// <paramref name="refusal"/> says why).</summary>
    private static ILinkDevice[] OpenQueues(LinkOptions o, int queues, out string? refusal)
    {
        var mac = SettingChecks.ParseMacOrNull(o.MacAddress);
        int? mtu = o.Mtu is 0 ? null : o.Mtu;
        string? refused = null;
        ILinkDevice[] devices;
        if (o.Kind == LinkKind.Tap)
        {
            if (!o.Create && !InterfaceExists(o.Interface))
                throw new DaemonConfigurationException(
                    $"Link:Interface: no TAP named '{o.Interface}' in this network namespace; create it with scripts/lab.sh up (and run offloademud with scripts/lab.sh exec) or set Link:Create=true");
            var options = new TapDeviceOptions
            {
                Name = o.Interface, AttachOnly = !o.Create, Persist = false, MacAddress = mac, Mtu = mtu, VnetHeader = o.VnetHeader,
                SegmentationOffload = o.SegmentationOffload,
            };
            devices = ((QueueList)Translate(o, () => new QueueList([.. TapDevice.OpenQueues(options, queues, out refused)]))).Devices;
        }
        else
        {
            RequireInterface(o.Interface);
            var options = new PacketSocketDeviceOptions { InterfaceName = o.Interface, Promiscuous = o.Promiscuous, MacAddress = mac, Mtu = mtu };
            devices = ((QueueList)Translate(o, () => new QueueList([.. PacketSocketDevice.OpenQueues(options, queues, out refused)]))).Devices;
        }
        refusal = refused;
        return devices;
    }

    /// <summary>Opens the stack over one queue. On failure nothing stays open.</summary>
    /// <exception cref="DaemonConfigurationException">The device, impairment or capture cannot be set up as configured.</exception>
    internal LinkStack Open(LinkOptions link, CaptureFileOptions capture, ImpairmentOptions impairment, FramePool pool)
    {
        if (link.SegmentationOffload && (!string.IsNullOrEmpty(impairment.Ingress) || !string.IsNullOrEmpty(impairment.Egress)))
            throw new DaemonConfigurationException(
                "Link:SegmentationOffload: an impairment (Impairment:Ingress/Egress) works on wire-sized frames, not on 64 KiB super-segments; clear the impairment or set Link:SegmentationOffload=false");
        MemoryLink? peer = null;
        ILinkDevice device = OpenDevice(link, ref peer);
        string description = device.ToString() ?? device.Name;
        // A real interface can go away under the daemon (deleted, unplugged): the supervisor keeps the stack and the
        // target alive while the link service opens it again (docs/target.md, "Device faults").
        SupervisedDevice? supervisor = link.Kind == LinkKind.Memory ? null : new SupervisedDevice(device);
        if (supervisor is not null) device = supervisor;
        ILinkDevice top = device;
        try
        {
            var ingress = ImpairmentSpec.Parse(impairment.Ingress ?? "");
            var egress = ImpairmentSpec.Parse(impairment.Egress ?? "");
            if (!ingress.IsNone || !egress.IsNone)
                top = new ImpairmentDevice(top, ingress, egress, impairment.Seed, _time, pool);

            CaptureDevice? captureDevice = null;
            if (!string.IsNullOrEmpty(capture.File))
            {
                captureDevice = OpenCapture(top, capture);
                top = captureDevice;
            }
            top = new TracingDevice(top, _loggers.CreateLogger(TraceCategory), new TcpdumpFrameFormatter(), LogLevel.Trace);
            return new LinkStack(top, device, captureDevice, peer, description) { Supervisor = supervisor, Supervisors = supervisor is null ? [] : [supervisor] };
        }
        catch
        {
            top.Dispose();   // disposes every layer opened so far, the device last
            peer?.Dispose();
            throw;
        }
    }

    /// <summary>Opens the device of <paramref name="link"/> again, by the name the first one got (a TAP created from a
    /// "%d" pattern keeps its name), after it was lost. Throws what <see cref="Open(LinkOptions, CaptureFileOptions, ImpairmentOptions, FramePool)"/> throws when it is still missing.</summary>
    internal static ILinkDevice Reopen(LinkOptions link, string name)
    {
        MemoryLink? peer = null;
        var options = new LinkOptions
        {
            Kind = link.Kind, Interface = name, Create = link.Create, Filter = link.Filter, VnetHeader = link.VnetHeader,
            SegmentationOffload = link.SegmentationOffload,
            Promiscuous = link.Promiscuous, MacAddress = link.MacAddress, Mtu = link.Mtu,
        };
        return OpenDevice(options, ref peer);
    }

    /// <summary>Opens <paramref name="queues"/> queues of <paramref name="link"/> again, by the name the first ones got,
    /// after the link was lost. Throws what <see cref="Open(LinkOptions, CaptureFileOptions, ImpairmentOptions, FramePool)"/>
    /// throws when it is still missing, and when it now gives fewer queues (a TAP created again without multi_queue).</summary>
    internal static ILinkDevice[] ReopenQueues(LinkOptions link, string name, int queues)
    {
        if (queues == 1) return [Reopen(link, name)];
        var options = new LinkOptions
        {
            Kind = link.Kind, Interface = name, Create = link.Create, Filter = link.Filter, VnetHeader = link.VnetHeader,
            SegmentationOffload = link.SegmentationOffload,
            Promiscuous = link.Promiscuous, MacAddress = link.MacAddress, Mtu = link.Mtu,
        };
        var devices = OpenQueues(options, queues, out string? refusal);
        if (devices.Length == queues) return devices;
        foreach (var d in devices) d.Dispose();
        throw new DaemonConfigurationException($"Link:Interface: '{name}' gives {devices.Length} of the {queues} queues the loops run on ({refusal})");
    }

    // A list of opened queues as one device for Translate (which maps LinkDeviceException to a configuration error).
    private sealed class QueueList(ILinkDevice[] devices) : ILinkDevice
    {
        public ILinkDevice[] Devices { get; } = devices;
        public string Name => Devices[0].Name;
        public Wire.MacAddress MacAddress => Devices[0].MacAddress;
        public int Mtu => Devices[0].Mtu;
        public ChecksumCapabilities Checksums => Devices[0].Checksums;
        public LinkStatistics Statistics => Devices[0].Statistics;
        public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds) => throw new NotSupportedException();
        public int Send(ReadOnlySpan<FrameBuffer> frames) => throw new NotSupportedException();
        public void Dispose()
        {
            foreach (var d in Devices) d.Dispose();
        }
    }

    private CaptureDevice OpenCapture(ILinkDevice inner, CaptureFileOptions capture)
    {
        string path = Path.GetFullPath(capture.File);
        try
        {
            if (Path.GetDirectoryName(path) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
            var options = new CaptureOptions
            {
                Format = capture.Format,
                MaxFileBytes = capture.MaxFileBytes,
                FlushInterval = TimeSpan.FromMilliseconds(capture.FlushIntervalMilliseconds),
                SnapLength = capture.SnapLength,
            };
            return new CaptureDevice(inner, path, options, _time, _loggers.CreateLogger<CaptureDevice>());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new DaemonConfigurationException(
                $"Capture:File: cannot create '{path}' ({ex.Message.TrimEnd('.')}); fix the path or its permissions, or set Capture:File to empty to turn the capture off", ex);
        }
    }

    private static ILinkDevice OpenDevice(LinkOptions o, ref MemoryLink? peer)
    {
        var mac = SettingChecks.ParseMacOrNull(o.MacAddress);
        int? mtu = o.Mtu is 0 ? null : o.Mtu;
        switch (o.Kind)
        {
            case LinkKind.Memory:
            {
                var options = new MemoryLinkOptions
                {
                    NameA = string.IsNullOrEmpty(o.Interface) ? "mem0" : o.Interface,
                    NameB = "peer",
                    Mtu = mtu ?? 1500,
                };
                if (mac is { } m) options = new MemoryLinkOptions { NameA = options.NameA, NameB = options.NameB, Mtu = options.Mtu, MacAddressA = m };
                MemoryLink.CreatePair(out var a, out var b, options);
                peer = b;
                return a;
            }
            case LinkKind.Tap:
                return OpenTap(o, mac, mtu);
            case LinkKind.Packet:
                RequireInterface(o.Interface);
                return Translate(o, () => new PacketSocketDevice(new PacketSocketDeviceOptions
                {
                    InterfaceName = o.Interface, Promiscuous = o.Promiscuous, MacAddress = mac, Mtu = mtu,
                }));
            case LinkKind.Pcap:
                if (!PcapDevice.IsAvailable)
                    throw new DaemonConfigurationException("Link:Kind: pcap needs libpcap, which cannot be loaded; install it (apt-get install libpcap0.8, Npcap on Windows) or set Link:Kind=packet");
                if (OperatingSystem.IsLinux()) RequireInterface(o.Interface);
                return Translate(o, () => new PcapDevice(new PcapDeviceOptions
                {
                    InterfaceName = o.Interface, Promiscuous = o.Promiscuous, MacAddress = mac, Mtu = mtu,
                    Filter = string.IsNullOrWhiteSpace(o.Filter) ? null : o.Filter,
                }));
            default:
                throw new DaemonConfigurationException($"Link:Kind: '{o.Kind}' is not a link kind; use tap, pcap, packet or memory");
        }
    }

    private static TapDevice OpenTap(LinkOptions o, Wire.MacAddress? mac, int? mtu)
    {
        if (!o.Create && !InterfaceExists(o.Interface))
            throw new DaemonConfigurationException(
                $"Link:Interface: no TAP named '{o.Interface}' in this network namespace; create it with scripts/lab.sh up (and run offloademud with scripts/lab.sh exec) or set Link:Create=true");
        var options = new TapDeviceOptions
        {
            Name = o.Interface, AttachOnly = !o.Create, Persist = false, MacAddress = mac, Mtu = mtu, VnetHeader = o.VnetHeader,
            SegmentationOffload = o.SegmentationOffload,
        };
        return (TapDevice)Translate(o, () =>
        {
            try
            {
                return new TapDevice(options);
            }
            catch (LinkDeviceException ex) when (ex.Errno == EINVAL && options.AttachOnly)
            {
                // A TAP made with multi_queue refuses a single-queue attach (EINVAL): take one of its queues instead.
                return new TapDevice(new TapDeviceOptions
                {
                    Name = options.Name, AttachOnly = true, Persist = false, MacAddress = mac, Mtu = mtu, VnetHeader = o.VnetHeader, MultiQueue = true,
                    SegmentationOffload = o.SegmentationOffload,
                });
            }
        });
    }

    private static void RequireInterface(string name)
    {
        if (!InterfaceExists(name))
            throw new DaemonConfigurationException(
                $"Link:Interface: no interface named '{name}' in this network namespace; pick one from 'ip link' or run offloademud in its namespace (ip netns exec NS offloademud ...)");
    }

    // getifaddrs under the hood: sees the calling process's network namespace, as TUNSETIFF does.
    private static bool InterfaceExists(string name)
        => NetworkInterface.GetAllNetworkInterfaces().Any(i => string.Equals(i.Name, name, StringComparison.Ordinal));

    private static ILinkDevice Translate(LinkOptions o, Func<ILinkDevice> open)
    {
        try
        {
            return open();
        }
        catch (LinkDeviceException ex)
        {
            throw new DaemonConfigurationException(Describe(o, ex), ex);
        }
        catch (DllNotFoundException ex)
        {
            throw new DaemonConfigurationException($"Link:Kind: {o.Kind.ToString().ToLowerInvariant()} needs a native library that cannot be loaded ({ex.Message}); install it or choose another Link:Kind", ex);
        }
    }

    private static string Describe(LinkOptions o, LinkDeviceException ex)
    {
        string what = ex.Message.ReplaceLineEndings(" ");
        string name = o.Interface;
        switch (o.Kind)
        {
            case LinkKind.Tap when what.Contains("/dev/net/tun", StringComparison.Ordinal):
                return ex.Errno == ENOENT
                    ? "Link:Kind: /dev/net/tun does not exist; load the tun module (modprobe tun) or choose another Link:Kind"
                    : "Link:Kind: cannot open /dev/net/tun; run offloademud as root or with CAP_NET_ADMIN (see scripts/offloademud.service)";
            case LinkKind.Tap when ex.Errno == EBUSY:
                return $"Link:Interface: TAP '{name}' is busy (another process, maybe another offloademud, has it open); stop that process or use another TAP";
            case LinkKind.Tap when ex.Errno is EPERM or EACCES:
                return $"Link:Interface: not allowed to attach TAP '{name}' (it belongs to another user or group); create it for the daemon's user (ip tuntap add dev {name} mode tap user USER), or run offloademud as root or with CAP_NET_ADMIN (see docs/security.md, scripts/offloademud.service)";
            case LinkKind.Tap when ex.Errno is EINVAL or ENODEV:
                return $"Link:Interface: '{name}' exists but is not a TAP; attach a TAP, or use Link:Kind=packet or pcap for an Ethernet interface";
            case LinkKind.Packet when ex.Errno is EPERM or EACCES:
                return "Link:Kind: an AF_PACKET socket needs CAP_NET_RAW; run offloademud as root or with CAP_NET_RAW (see scripts/offloademud.service)";
            case LinkKind.Pcap when what.Contains("BPF filter", StringComparison.Ordinal):
                return $"Link:Filter: {what}; fix the filter (tcpdump syntax, see pcap-filter(7)) or clear it";
            case LinkKind.Pcap when what.Contains("ermission", StringComparison.Ordinal) || ex.Errno is EPERM or EACCES:
                return $"Link:Kind: libpcap may not open '{name}' ({what}); run offloademud as root or with CAP_NET_RAW and CAP_NET_ADMIN";
            default:
                return $"Link:Interface: cannot open {o.Kind.ToString().ToLowerInvariant()} '{name}': {what}; check the interface and the daemon's privileges";
        }
    }
}
