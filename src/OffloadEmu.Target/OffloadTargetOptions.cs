using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Target;

/// <summary>What the emulated NIC offers and how it behaves where the chimney contract leaves the choice to the target.</summary>
/// <remarks>
/// Capacities are the initiate resource limits of spec §2 and §7 (OFFLOAD_TCP/PATH/NEIGHBOR_ENTRIES); the receive-window
/// and MTU limits produce OFFLOAD_TCP_RCV_WINDOW and the private OFFLOAD_PATH_MTU (spec §9.8). The daemon binds these
/// from <c>emulator.json</c> (section <c>Nic</c>).
/// </remarks>
public sealed record class OffloadTargetOptions
{
    /// <summary>Capabilities reported as both current and hardware capabilities (spec §6.9).</summary>
    public TcpConnectionOffloadCapabilities Capabilities { get; init; } = new()
    {
        TcpConnectionOffloadCapacity = 1024,
        SupportIPv4 = true,
        SupportIPv6 = true,
        SupportSack = true,
    };

    /// <summary>Offload parameters in force until the host sets its own (spec §6.9).</summary>
    public OffloadParameters Parameters { get; init; } = OffloadParameters.Default;

    /// <summary>The NIC's own MAC: source of its frames when a neighbour's DlSourceAddress is zero, and what
    /// <see cref="OffloadTarget.MacAddress"/> reports. Null = the link device's MAC.</summary>
    public MacAddress? MacAddress { get; init; }

    /// <summary>Path objects the NIC can hold (OFFLOAD_PATH_ENTRIES beyond it).</summary>
    public int PathCapacity { get; init; } = 1024;

    /// <summary>Neighbour objects the NIC can hold (OFFLOAD_NEIGHBOR_ENTRIES beyond it).</summary>
    public int NeighborCapacity { get; init; } = 256;

    /// <summary>Largest InitialRcvWnd / RcvWnd accepted at initiate (OFFLOAD_TCP_RCV_WINDOW beyond it), bytes.</summary>
    public uint MaxReceiveWindow { get; init; } = 16 * 1024 * 1024;

    /// <summary>Source MACs a neighbour's const <c>DlSourceAddress</c> may name besides the NIC's own (spec §2);
    /// others fail with OFFLOAD_HW_ADDRESS_ENTRIES.</summary>
    public IReadOnlyList<MacAddress> AdditionalSourceMacs { get; init; } = [];

    /// <summary>VLAN ids configured on the NIC; a neighbour with another non-zero VlanId fails with OFFLOAD_VLAN_MISMATCH (spec §6.5).</summary>
    public IReadOnlyList<ushort> VlanIds { get; init; } = [];

    /// <summary>Largest receive indication when the connection's RcvIndicationSize is 0 (spec §3), bytes.</summary>
    public int MaxIndicationSize { get; init; } = 256 * 1024;

    /// <summary>Upper bound of the send backlog the target asks for (spec §5), bytes.</summary>
    public uint MaxSendBacklog { get; init; } = 4 * 1024 * 1024;

    /// <summary>Shortest interval between two send-backlog-change events on one connection (spec §5: throttled).</summary>
    public TimeSpan SendBacklogEventInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Where offloaded connections take receive storage while they buffer data (null: the process-wide
    /// <see cref="Tcp.ReceiveBufferPool.Shared"/>). An idle connection holds none (docs/target.md, "Receive buffers").</summary>
    public Tcp.ReceiveBufferPool? ReceiveBufferPool { get; init; }

    /// <summary>Frames waiting between the device reader and the engine; beyond it frames are dropped and counted.</summary>
    public int ReceiveRingCapacity { get; init; } = 4096;

    /// <summary>Optional upload reasons the target asks for (spec §6.3); empty = none (the target keeps working).</summary>
    public IReadOnlySet<TcpUploadReason> OptionalRetrieveReasons { get; init; } = new HashSet<TcpUploadReason>();

    /// <summary>Out-of-order ranges held per connection before Retrieve(HighOutOfOrderPackets), when that reason is enabled.</summary>
    public int HighOutOfOrderThreshold { get; init; } = 8;

    /// <summary>Retrieve(LowActivity) after this long without data, requests or non-keepalive segments, when enabled.</summary>
    public TimeSpan LowActivityTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Retrieve(HighDropRate) when at least this share of the segments sent in one window were retransmissions.</summary>
    public double HighDropRateThreshold { get; init; } = 0.05;

    /// <summary>Segments sent per HighDropRate measuring window.</summary>
    public int HighDropRateWindow { get; init; } = 200;

    /// <summary>Retrieve(SmallIO) when the send requests of one window average fewer bytes than this.</summary>
    public int SmallIoBytes { get; init; } = 128;

    /// <summary>Send requests per SmallIO measuring window.</summary>
    public int SmallIoWindow { get; init; } = 32;

    /// <summary>Retrieve(NoBufferPreposting) after this many receive indications in a row made with no post queued.</summary>
    public int NoBufferPrepostingIndications { get; init; } = 64;

    /// <summary>Retrieve(HighFragmentation) after this many IP fragments from a connection's peer went up the
    /// non-offload path.</summary>
    public int HighFragmentationThreshold { get; init; } = 16;

    /// <summary>What a terminate does with sends not yet fully acknowledged (spec §5 "at terminate": complete and/or
    /// return). <see cref="TerminateSendDisposition.Return"/> (default): returned in the TCP block's chain, the head
    /// advanced to SndUna. <see cref="TerminateSendDisposition.Complete"/>: completed UPLOAD_IN_PROGRESS, the first with
    /// its acknowledged byte count (spec §10 row 14), and the host resends from its own copies.</summary>
    public TerminateSendDisposition TerminateSends { get; init; } = TerminateSendDisposition.Return;

    /// <summary>Largest <see cref="BusyPollMicroseconds"/>.</summary>
    public const int MaxBusyPollMicroseconds = 100_000;

    /// <summary>
    /// Busy polling of the engine loop: when a round finds nothing to do, the loop keeps looking (device, requests,
    /// timers) for this long before it sleeps. 0 (default) = off: sleep at once and be woken by the device or a request.
    /// </summary>
    /// <remarks>Trades one CPU kept busy while traffic pauses for the wake-up latency of a sleeping thread (a futex or
    /// poll wake-up and a context switch per request/response turn); like the kernel's <c>net.core.busy_poll</c>. On a
    /// machine with few cores it takes CPU time the host application and the peer need: measure
    /// (docs/performance.md, "One connection over the TAP").</remarks>
    public int BusyPollMicroseconds { get; init; }

    /// <summary>
    /// Inline completions: each engine loop runs the host's completion and indication handlers itself, after every round
    /// (before it sleeps), instead of handing them to a completion worker on the thread pool; requests those handlers
    /// make are taken by the loop's next round without a wake-up. This is how a miniport's DPC calls NDIS's completion
    /// handlers; it saves the hand-off to a worker and back per request/response turn (two context switches on one CPU).
    /// Default off. Only for a host whose handlers never block and never wait for the target (the managed host stack's
    /// threaded mode; a host that blocks in a handler stops the engine); handlers still run one at a time in posting
    /// order. Completions posted by other threads (a request refused at once) still go to a worker. Not for a manual
    /// completion queue (<c>Poll</c> mode), where the caller drains.
    /// </summary>
    /// <remarks>docs/target.md, "Running it"; measured in docs/performance.md, "Inline completions".</remarks>
    public bool InlineCompletions { get; init; }

    /// <summary>Largest <see cref="TransmitInlineFrames"/>.</summary>
    public const int MaxTransmitInlineFrames = 64;

    /// <summary>
    /// A transmit thread per link queue: the engine loop hands its finished frames (in order, pooled buffers, through a
    /// lock-free ring) to a thread that makes the device's send calls, as a NIC's DMA engine does. On a TAP the peer
    /// kernel's receive path runs inside each write(2); on its own thread it runs on another core while the loop does
    /// its TCP work. Default off. Only for a target started with its own threads (not manual <c>Poll</c> mode).
    /// </summary>
    /// <remarks>docs/target.md, "Transmit thread"; measured in docs/performance.md, "Transmit thread".</remarks>
    public bool TransmitThread { get; init; }

    /// <summary>With <see cref="TransmitThread"/>: a round that produced at most this many frames while the transmit
    /// thread holds none is written by the loop itself (no hand-off latency for a request's reply or a lone ACK); 0 =
    /// hand every frame over. Default 2.</summary>
    public int TransmitInlineFrames { get; init; } = 2;

    /// <summary>With <see cref="TransmitThread"/>: frames the ring between the loop and its transmit thread holds; a full
    /// ring makes the loop wait (back-pressure). Rounded up to a power of two.</summary>
    public int TransmitRingCapacity { get; init; } = 512;

    /// <summary>Checks the values; returns the problems found (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>(Capabilities.Validate());
        errors.AddRange(Parameters.Validate());
        if (Capabilities.TcpConnectionOffloadCapacity == 0) errors.Add("TcpConnectionOffloadCapacity must be at least 1.");
        if (PathCapacity < 1) errors.Add($"{nameof(PathCapacity)} must be at least 1.");
        if (NeighborCapacity < 1) errors.Add($"{nameof(NeighborCapacity)} must be at least 1.");
        if (MaxReceiveWindow < 1024 || MaxReceiveWindow > (1u << 30)) errors.Add($"{nameof(MaxReceiveWindow)} must be 1024..2^30 bytes.");
        if (MaxIndicationSize < 1) errors.Add($"{nameof(MaxIndicationSize)} must be at least 1 byte.");
        if (BusyPollMicroseconds is < 0 or > MaxBusyPollMicroseconds)
            errors.Add($"{nameof(BusyPollMicroseconds)} must be 0..{MaxBusyPollMicroseconds} (0 = off).");
        if (TransmitInlineFrames is < 0 or > MaxTransmitInlineFrames)
            errors.Add($"{nameof(TransmitInlineFrames)} must be 0..{MaxTransmitInlineFrames}.");
        if (TransmitRingCapacity is < 16 or > 65_536) errors.Add($"{nameof(TransmitRingCapacity)} must be 16..65536 frames.");
        if (ReceiveRingCapacity < 16) errors.Add($"{nameof(ReceiveRingCapacity)} must be at least 16.");
        if (LowActivityTimeout < TimeSpan.FromSeconds(1)) errors.Add($"{nameof(LowActivityTimeout)} must be at least 1 s.");
        if (HighDropRateThreshold is <= 0 or > 1) errors.Add($"{nameof(HighDropRateThreshold)} must be in (0, 1].");
        if (HighDropRateWindow < 10) errors.Add($"{nameof(HighDropRateWindow)} must be at least 10 segments.");
        if (SmallIoBytes < 1 || SmallIoWindow < 1) errors.Add($"{nameof(SmallIoBytes)} and {nameof(SmallIoWindow)} must be at least 1.");
        if (NoBufferPrepostingIndications < 1) errors.Add($"{nameof(NoBufferPrepostingIndications)} must be at least 1.");
        if (HighFragmentationThreshold < 1) errors.Add($"{nameof(HighFragmentationThreshold)} must be at least 1.");
        foreach (var id in VlanIds)
            if (id is 0 or > NeighborConstState.MaxVlanId) errors.Add($"VLAN id {id} is not 1..{NeighborConstState.MaxVlanId}.");
        foreach (var reason in OptionalRetrieveReasons)
            if (reason.IsMandatory()) errors.Add($"{reason} is a mandatory upload reason, not an optional policy.");
        return errors;
    }
}
