using OffloadEmu.Wire;

namespace OffloadEmu.Cli.Session;

/// <summary>What <c>connect</c> and <c>listen</c> share, validated: where the target comes from, the interface, the
/// offload policy and hand-overs, capture, output and time limit.</summary>
internal sealed record class SessionSettings
{
    /// <summary>The link the embedded target runs on (null with <see cref="DaemonSocket"/>).</summary>
    public LinkSpec? Link { get; init; }

    /// <summary>A daemon's control socket (the host stack binds to the daemon's target over it).</summary>
    public string? DaemonSocket { get; init; }

    public Ipv4Address Address { get; init; }

    public int PrefixLength { get; init; }

    /// <summary>Unspecified: only on-link peers.</summary>
    public Ipv4Address Gateway { get; init; }

    public OffloadChoice Offload { get; init; } = OffloadChoice.Immediate;

    /// <summary>Upload and re-offload the connection every this many bytes moved (0 = never).</summary>
    public long UploadEvery { get; init; }

    /// <summary>pcapng of the link (null = none).</summary>
    public string? CaptureFile { get; init; }

    public bool Json { get; init; }

    /// <summary>Whole-run limit (null = none).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>ARP requests before a neighbour counts as unreachable.</summary>
    public int ArpTries { get; init; } = 3;

    /// <summary>Segmentation offload on the embedded target's TAP (<c>--segmentation-offload</c>).</summary>
    public bool SegmentationOffload { get; init; }

    /// <summary>The embedded target's busy poll (0 = off).</summary>
    public int BusyPollMicroseconds { get; init; }

    /// <summary>Link queues of the embedded target, one engine loop each (<c>--queues N</c>; 1 = one queue).</summary>
    public int Queues { get; init; } = 1;

    /// <summary>The embedded target's transmit thread (<c>--transmit-thread</c>).</summary>
    public bool TransmitThread { get; init; }

    /// <summary>The embedded target runs host completions on its engine (<c>--inline-completions</c>).</summary>
    public bool InlineCompletions { get; init; }

    /// <summary>"tap:oe0" or "daemon:PATH", for messages and the summary.</summary>
    public string Where => Link?.ToString() ?? $"daemon:{DaemonSocket}";

    /// <summary>The interface name for messages ("oe0").</summary>
    public string InterfaceName => Link?.Name ?? DaemonSocket ?? "?";
}
