using System.CommandLine;
using System.Globalization;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli.Session;

/// <summary>The options <c>connect</c> and <c>listen</c> share, and their validation into <see cref="SessionSettings"/>.
/// Every problem becomes one line naming the option and what it expects.</summary>
internal sealed class SessionOptions
{
    public Option<string?> Link { get; } = new("--link") { HelpName = "KIND:NAME", Description = "the link the embedded offload target runs on: tap:NAME, packet:NAME or pcap:NAME" };
    public Option<string?> Daemon { get; } = new("--daemon") { HelpName = "SOCKET", Description = "bind to the target of a running offloademud through its control socket instead of --link" };
    public Option<string?> Local { get; } = new("--local") { HelpName = "ADDR/PREFIX", Description = "our address and on-link prefix, ADDR/PREFIX (e.g. 198.18.0.2/24)" };
    public Option<string?> Gateway { get; } = new("--gateway") { HelpName = "ADDR", Description = "default gateway for peers outside --local's prefix" };
    public Option<string?> Offload { get; } = new("--offload") { HelpName = "immediate|after:N|never", Description = "when connections go to the target: immediate (default), after:N bytes, never" };
    public Option<string?> UploadEvery { get; } = new("--upload-every") { HelpName = "N", Description = "upload and re-offload the connection every N bytes moved (K, M, G suffixes)" };
    public Option<FileInfo?> Capture { get; } = new("--capture") { HelpName = "FILE", Description = "write a pcapng of the link to FILE" };
    public Option<bool> Json { get; } = new("--json") { Description = "print one JSON object with the figures instead of text" };
    public Option<double?> Timeout { get; } = new("--timeout") { HelpName = "S", Description = "give up after S seconds (exit 1); default none" };
    public Option<int?> ArpTries { get; } = new("--arp-tries") { HelpName = "N", Description = "ARP requests (one a second) before a neighbour is unreachable; default 3" };
    public Option<bool> SegmentationOffload { get; } = new("--segmentation-offload") { Description = "TSO/LRO through the TAP's virtio-net header (tap links only): the target sends and takes TCP super-segments of up to 64 KiB with partial checksums, which the kernel cuts or never cut; a --capture then holds super-segments (its interface description says so). Off by default" };
    public Option<int?> BusyPoll { get; } = new("--busy-poll") { HelpName = "US", Description = "the embedded target's engine keeps polling US microseconds before it sleeps (Nic:BusyPollMicroseconds); default 0 = off" };

    public Option<bool> TransmitThread { get; } = new("--transmit-thread") { Description = "the embedded target writes its frames to the link from a transmit thread per queue (Nic:TransmitThread): the link's send calls run on another core than the engine; rounds of up to 2 frames with the thread idle are still written by the engine itself. Off by default" };

    public Option<bool> InlineCompletions { get; } = new("--inline-completions") { Description = "the embedded target's engine runs the host stack's completion handlers itself instead of handing them to a worker thread (Nic:InlineCompletions): a request/response turn saves a thread hand-off each way. Off by default" };
    public Option<int?> Queues { get; } = new("--queues") { HelpName = "N", Description = "the embedded target opens N queues of the link (a multi_queue TAP, one it creates is made so; an AF_PACKET fanout group), one engine loop each, connections spread over them by their 4-tuple (Nic:Queues); default 1" };

    public void AddTo(Command command)
    {
        command.Options.Add(Queues);
        command.Options.Add(Link);
        command.Options.Add(Daemon);
        command.Options.Add(Local);
        command.Options.Add(Gateway);
        command.Options.Add(Offload);
        command.Options.Add(UploadEvery);
        command.Options.Add(Capture);
        command.Options.Add(Json);
        command.Options.Add(Timeout);
        command.Options.Add(ArpTries);
        command.Options.Add(BusyPoll);
        command.Options.Add(TransmitThread);
        command.Options.Add(InlineCompletions);
        command.Options.Add(SegmentationOffload);
    }

    /// <summary>Validates the shared options.</summary>
    /// <exception cref="CliUsageException">The first problem found (exit code 2).</exception>
    public SessionSettings Bind(ParseResult pr)
    {
        string? link = pr.GetValue(Link), daemon = pr.GetValue(Daemon);
        if (link is not null && daemon is not null) throw new CliUsageException("--link and --daemon are exclusive: embed a target on a link or bind to a daemon, not both");
        if (link is null && daemon is null) throw new CliUsageException("no link: give --link tap:NAME|packet:NAME|pcap:NAME (e.g. --link tap:oe0)");
        if (daemon is not null && pr.GetValue(Capture) is not null)
            throw new CliUsageException("--capture records the link this command opens; with --daemon the daemon captures (its Capture:File)");
        LinkSpec? spec = null;
        if (link is not null)
        {
            if (!LinkSpec.TryParse(link, out var s, out string linkError)) throw new CliUsageException(linkError);
            spec = s;
        }
        string? local = pr.GetValue(Local);
        if (local is null) throw new CliUsageException("no local address: give --local ADDR/PREFIX (e.g. --local 198.18.0.2/24)");
        if (!AddressParser.TryParsePrefix(local, out var address, out int prefix, out string prefixError)) throw new CliUsageException(prefixError);
        Ipv4Address gateway = default;
        if (pr.GetValue(Gateway) is { } gw)
        {
            if (!Ipv4Address.TryParse(gw, out gateway) || gateway.IsUnspecified || gateway.IsMulticast)
                throw new CliUsageException($"--gateway '{gw}': not a unicast IPv4 address");
            if (!gateway.IsInSameSubnet(address, prefix))
                throw new CliUsageException($"--gateway {gateway} is not on the link {address}/{prefix}");
            if (gateway == address) throw new CliUsageException($"--gateway {gateway} is our own address");
        }
        var offload = OffloadChoice.Immediate;
        if (pr.GetValue(Offload) is { } o && !OffloadChoice.TryParse(o, out offload, out string offloadError)) throw new CliUsageException(offloadError);
        long uploadEvery = 0;
        if (pr.GetValue(UploadEvery) is { } u)
        {
            if (!SizeParser.TryParse(u, out uploadEvery) || uploadEvery <= 0)
                throw new CliUsageException($"--upload-every '{u}': expected a byte count above 0 (e.g. 4194304 or 4M)");
            if (offload.Policy == HostStack.OffloadPolicy.Never)
                throw new CliUsageException("--upload-every needs the connection offloaded: it conflicts with --offload never");
        }
        TimeSpan? timeout = null;
        if (pr.GetValue(Timeout) is { } t)
        {
            if (!(t > 0) || double.IsInfinity(t)) throw new CliUsageException(string.Create(CultureInfo.InvariantCulture, $"--timeout {t}: expected seconds above 0"));
            timeout = TimeSpan.FromSeconds(t);
        }
        int arpTries = pr.GetValue(ArpTries) ?? 3;
        if (arpTries is < 1 or > 100) throw new CliUsageException($"--arp-tries {arpTries}: expected 1 to 100");
        int busyPoll = pr.GetValue(BusyPoll) ?? 0;
        if (busyPoll is < 0 or > Target.OffloadTargetOptions.MaxBusyPollMicroseconds)
            throw new CliUsageException($"--busy-poll {busyPoll}: expected 0 (off) to {Target.OffloadTargetOptions.MaxBusyPollMicroseconds} microseconds");
        if (busyPoll > 0 && daemon is not null)
            throw new CliUsageException("--busy-poll sets the embedded target's engine; with --daemon set the daemon's Nic:BusyPollMicroseconds");
        bool transmitThread = pr.GetValue(TransmitThread);
        if (transmitThread && daemon is not null)
            throw new CliUsageException("--transmit-thread sets the embedded target's engine; with --daemon set the daemon's Nic:TransmitThread");
        bool inlineCompletions = pr.GetValue(InlineCompletions);
        if (inlineCompletions && daemon is not null)
            throw new CliUsageException("--inline-completions sets the embedded target's engine; the daemon's host is the control socket (no such setting)");
        int queues = pr.GetValue(Queues) ?? 1;
        if (queues is < 1 or > Target.OffloadTarget.MaxQueues) throw new CliUsageException($"--queues {queues}: expected 1 to {Target.OffloadTarget.MaxQueues}");
        if (queues > 1 && daemon is not null) throw new CliUsageException("--queues sets the embedded target's link; with --daemon set the daemon's Nic:Queues");
        if (queues > 1 && spec is { Kind: LinkKind.Pcap } pcap) throw new CliUsageException($"--queues {queues}: --link {pcap} has one queue; use tap:NAME or packet:NAME");
        bool segmentationOffload = pr.GetValue(SegmentationOffload);
        if (segmentationOffload && daemon is not null)
            throw new CliUsageException("--segmentation-offload sets the embedded target's TAP; with --daemon set the daemon's Link:SegmentationOffload");
        if (segmentationOffload && spec is { Kind: not LinkKind.Tap } other)
            throw new CliUsageException($"--segmentation-offload needs a TAP link (the virtio-net header); --link {other} has none: use --link tap:NAME or drop the option");
        return new SessionSettings
        {
            SegmentationOffload = segmentationOffload,
            Link = spec,
            DaemonSocket = daemon,
            Address = address,
            PrefixLength = prefix,
            Gateway = gateway,
            Offload = offload,
            UploadEvery = uploadEvery,
            CaptureFile = pr.GetValue(Capture)?.FullName,
            Json = pr.GetValue(Json),
            Timeout = timeout,
            ArpTries = arpTries,
            BusyPollMicroseconds = busyPoll,
            TransmitThread = transmitThread,
            InlineCompletions = inlineCompletions,
            Queues = queues,
        };
    }
}
