using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>Configuration of a <see cref="HostStack"/>: the interface, neighbour resolution, TCP and offload policy.</summary>
public sealed record class HostStackOptions
{
    /// <summary>The interface's IPv4 address.</summary>
    public Ipv4Address Address { get; init; }

    /// <summary>The on-link prefix length of <see cref="Address"/>.</summary>
    public int PrefixLength { get; init; } = 24;

    /// <summary>The default gateway (unspecified: only on-link destinations are reachable).</summary>
    public Ipv4Address Gateway { get; init; }

    /// <summary>The interface's IPv6 address (global or unique-local; unspecified: IPv6 is off). The link-local address
    /// fe80::/64 from the MAC (EUI-64) is added whenever this is set.</summary>
    public Ipv6Address Address6 { get; init; }

    /// <summary>The on-link prefix length of <see cref="Address6"/>.</summary>
    public int PrefixLength6 { get; init; } = 64;

    /// <summary>The IPv6 default gateway (unspecified: only on-link and link-local destinations are reachable).</summary>
    public Ipv6Address Gateway6 { get; init; }

    /// <summary>The TCP machine configuration of host-mode connections (MSS is clamped to the target's MTU).</summary>
    public TcpConfig Tcp { get; init; } = TcpConfig.Default;

    /// <summary>The offload parameters the stack sets on the target (OID_TCP_CONNECTION_OFFLOAD_PARAMETERS, spec §6.9);
    /// host-mode machines use the same tick rate, ACK and retransmission settings, so delegated state means the same
    /// on both sides.</summary>
    public OffloadParameters OffloadParameters { get; init; } = OffloadParameters.Default;

    /// <summary>When connections are offloaded.</summary>
    public OffloadPolicy OffloadPolicy { get; init; } = OffloadPolicy.AfterHandshake;

    /// <summary>Bytes moved before offload under <see cref="OffloadPolicy.AfterBytes"/>.</summary>
    public long OffloadAfterBytes { get; init; } = 64 * 1024;

    /// <summary>Time between ARP requests (IPv6: neighbour solicitations) for an unresolved neighbour.</summary>
    public TimeSpan ArpRetryInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>ARP requests (IPv6: neighbour solicitations) sent before resolution fails.</summary>
    public int ArpMaxRequests { get; init; } = 3;

    /// <summary>How long a resolved neighbour counts as reachable before the next use asks again.</summary>
    public TimeSpan NeighborReachableTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bytes an application may have written and not yet had acknowledged before its writes wait.</summary>
    public int SendBufferSize { get; init; } = 256 * 1024;

    /// <summary>Bytes received and not yet read by the application that the socket holds (its receive window).</summary>
    public int ReceiveBufferSize { get; init; } = 128 * 1024;

    /// <summary>Size of one send chunk (one send NBL).</summary>
    public int SendChunkSize { get; init; } = 16 * 1024;

    /// <summary>First ephemeral port for active opens.</summary>
    public ushort EphemeralPortStart { get; init; } = 49152;

    /// <summary>Where in [<see cref="EphemeralPortStart"/>, 65535] the stack's first active open starts (later ones
    /// follow in turn). Null (default): a random point (RFC 6056 §3.3.1), so two stacks (or two runs) do not reuse one
    /// four-tuple while the peer still holds the last connection on it (LAST-ACK, TIME-WAIT). Tests set 0 for
    /// repeatable ports.</summary>
    public int? EphemeralPortOffset { get; init; }

    /// <summary>Half-open passive connections (SYN received, handshake not finished) one listener holds at most; a SYN
    /// beyond them is dropped and counted (<see cref="HostStackStatistics.SynsDropped"/>), so a SYN flood costs at
    /// most this many connections' memory per listener until their SYN-ACKs time out (no SYN cookies).</summary>
    public int MaxHalfOpenPerListener { get; init; } = 256;

    /// <summary>Initiates in flight at once (1..4096). Beyond the first, only initiates that link a neighbour and path
    /// already offloaded (no new shared object) are started, in queue order; 1 (the default) offloads one connection at
    /// a time. Many connections offloaded together (a daemon's churn, many connects) gain from several, which keep the
    /// control socket and the target busy instead of waiting one round trip per connection.</summary>
    public int MaxInitiatesInFlight { get; init; } = 1;

    /// <summary>Threaded mode: while a connection is offloaded and no hand-over, shutdown or abort is in progress, the
    /// application's writes and reads issue <c>TcpOffloadSend</c> / <c>TcpOffloadReceive</c> on the application's
    /// thread, and send and receive completions are handled on the thread that delivers them, instead of each going
    /// through the engine loop (one wake-up less each way; docs/hoststack.md, "Threads"). Default on; off is the
    /// old path (everything through the loop). Manual mode always uses the loop.</summary>
    public bool DirectOffloadedIo { get; init; } = true;

    /// <summary>Threaded mode: a pending read that an offloaded connection's receive completion or indication fills
    /// continues on the thread that delivered the data (the target's completion worker) instead of being queued to the
    /// thread pool: one wake-up less per read. Only for applications that never block a thread synchronously on this
    /// stack's I/O from a read's continuation (e.g. <c>Stream.Read</c> after an awaited read): the completion worker
    /// that would deliver the data would be the blocked thread. Default off.</summary>
    public bool InlineReadCompletions { get; init; }

    /// <summary>Offloaded connections take received data through the target's indications only: a read that finds nothing
    /// buffered does not post its own receive buffer (<c>TcpOffloadReceive</c>) unless indications are blocked (then a
    /// zero-length post re-enables them, as always). With posts the data is copied frame → target → post → the read's
    /// buffer; with indications only the read is filled straight from the indication: one copy fewer per byte. Default
    /// off (posts, the chimney's usual receive path): on a quiet machine it moved neither the CPU per GiB nor the rate of
    /// a receiving CLI (docs/performance.md, "Indications only").</summary>
    public bool IndicationsOnly { get; init; }

    /// <summary>Checks the options; returns the problems found.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Address.IsUnspecified) errors.Add("Address is required.");
        if (PrefixLength is < 0 or > 32) errors.Add("PrefixLength must be 0..32.");
        if (PrefixLength6 is < 0 or > 128) errors.Add("PrefixLength6 must be 0..128.");
        if (Address6.IsMulticast) errors.Add("Address6 must be a unicast address.");
        if (ArpMaxRequests < 1) errors.Add("ArpMaxRequests must be at least 1.");
        if (MaxHalfOpenPerListener < 1) errors.Add("MaxHalfOpenPerListener must be at least 1.");
        if (MaxInitiatesInFlight is < 1 or > 4096) errors.Add("MaxInitiatesInFlight must be 1..4096.");
        if (SendChunkSize < 512) errors.Add("SendChunkSize must be at least 512.");
        if (ReceiveBufferSize < 4096) errors.Add("ReceiveBufferSize must be at least 4096.");
        if (SendBufferSize < SendChunkSize) errors.Add("SendBufferSize must be at least SendChunkSize.");
        if (EphemeralPortOffset < 0) errors.Add("EphemeralPortOffset must not be negative.");
        return errors;
    }
}
