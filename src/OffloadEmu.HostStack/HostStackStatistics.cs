namespace OffloadEmu.HostStack;

/// <summary>Counters of a <see cref="HostStack"/>, written by its engine loop.</summary>
public sealed class HostStackStatistics
{
    /// <summary>ARP requests sent.</summary>
    public long ArpRequestsSent { get; internal set; }

    /// <summary>ARP replies sent (answers for our address).</summary>
    public long ArpRepliesSent { get; internal set; }

    /// <summary>ICMP echo replies sent.</summary>
    public long EchoRepliesSent { get; internal set; }

    /// <summary>Frames received on the non-offload path.</summary>
    public long FramesReceived { get; internal set; }

    /// <summary>Frames sent on the non-offload path.</summary>
    public long FramesSent { get; internal set; }

    /// <summary>Frames dropped (not for us, malformed, unknown protocol, no route, unresolved neighbour).</summary>
    public long FramesDropped { get; internal set; }

    /// <summary>TCP segments of a connection being offloaded, uploaded or offloaded (held for the target) dropped for a
    /// bad checksum (also in <see cref="FramesDropped"/>); in host mode the host machine counts its own.</summary>
    public long ChecksumErrors { get; internal set; }

    /// <summary>Initiate offloads whose TCP block succeeded.</summary>
    public long OffloadsSucceeded { get; internal set; }

    /// <summary>Initiate offloads whose TCP block failed (the connection stayed in host mode).</summary>
    public long OffloadsFailed { get; internal set; }

    /// <summary>Connections taken back (terminate offload) and continued in host mode.</summary>
    public long Uploads { get; internal set; }

    /// <summary>Send requests the target gave back unfinished (UPLOAD_IN_PROGRESS or a partial count), resent in host
    /// mode after the upload.</summary>
    public long SendsHandedBack { get; internal set; }

    /// <summary>IPv6 neighbour solicitations sent (resolution and probes, RFC 4861).</summary>
    public long NeighborSolicitationsSent { get; internal set; }

    /// <summary>IPv6 neighbour advertisements sent (answers to solicitations for our addresses).</summary>
    public long NeighborAdvertisementsSent { get; internal set; }

    /// <summary>IPv6 packets dropped because they carry extension headers or are fragments (not handled yet).</summary>
    public long Ipv6ExtensionHeaderDrops { get; internal set; }

    /// <summary>Path MTU decreases learned from ICMP fragmentation-needed / ICMPv6 packet-too-big messages.</summary>
    public long PathMtuDecreases { get; internal set; }

    /// <summary>UpdateOffload requests completed with SUCCESS (path MTU pushed to the target).</summary>
    public long PathUpdatesCompleted { get; internal set; }

    /// <summary>UpdateOffload requests of neighbour objects completed with SUCCESS (a new MAC pushed to the target).</summary>
    public long NeighborUpdatesCompleted { get; internal set; }

    /// <summary>SYNs dropped because their listener held <see cref="HostStackOptions.MaxHalfOpenPerListener"/> half-open
    /// connections already (a SYN flood).</summary>
    public long SynsDropped { get; internal set; }

    /// <summary>Resets sent for segments that matched no connection.</summary>
    public long ResetsSent { get; internal set; }

    /// <summary>Segments forwarded to the target (held while an offload was in progress).</summary>
    public long SegmentsForwarded { get; internal set; }

    /// <summary>IPv4 datagrams reassembled from fragments (RFC 791) on the non-offload path.</summary>
    public long DatagramsReassembled { get; internal set; }

    /// <summary>Datagrams whose fragments were given up (timeout, overlap, malformed, over the limits).</summary>
    public long ReassemblyDrops { get; internal set; }

    /// <summary>Reachability queries of the target answered "stale" that started a verification (spec §6.4).</summary>
    public long NeighborVerifications { get; internal set; }

    /// <summary>Verifications settled by the NIC's NicReachabilityDelta (it saw forward progress recently).</summary>
    public long NeighborsConfirmedByNic { get; internal set; }

    /// <summary>Offloaded neighbours invalidated because unicast ARP probes went unanswered.</summary>
    public long NeighborsInvalidated { get; internal set; }

    private long _neighborQueries;

    /// <summary>NeighborReachabilityQuery indications the target raised (spec §6.4), answered or not; counted on the
    /// completion thread that delivers them.</summary>
    public long NeighborQueries => Interlocked.Read(ref _neighborQueries);

    internal void CountNeighborQuery() => Interlocked.Increment(ref _neighborQueries);

    /// <summary>Time from each offloaded send (a chunk handed to <c>TcpOffloadSend</c>) to its successful completion,
    /// every connection of the stack (the issue-7 goal compares its p99 with the round trip).</summary>
    public LatencyHistogram SendCompletionLatency { get; } = new();

    private long _directSends;
    private long _directCompletions;

    /// <summary>Send chunks an application's write handed to the target itself (direct offloaded I/O), not through the
    /// loop.</summary>
    public long DirectSends => Interlocked.Read(ref _directSends);

    /// <summary>Send and receive completions handled on the thread that delivered them (direct offloaded I/O).</summary>
    public long DirectCompletions => Interlocked.Read(ref _directCompletions);

    internal void CountDirectSend() => Interlocked.Increment(ref _directSends);

    internal void CountDirectCompletion() => Interlocked.Increment(ref _directCompletions);

    private long _receiveBufferPosts;

    /// <summary>Receive buffers posted to the target for waiting reads (<c>TcpOffloadReceive</c> with a buffer; not the
    /// zero-length posts that re-enable indications). None with <see cref="HostStackOptions.IndicationsOnly"/>.</summary>
    public long ReceiveBufferPosts => Interlocked.Read(ref _receiveBufferPosts);

    internal void CountReceiveBufferPost() => Interlocked.Increment(ref _receiveBufferPosts);

    /// <summary>Retrieve events of the target (it asked for a connection to be uploaded, spec §6.3), every reason.</summary>
    public long TargetRetrieves { get; internal set; }

    /// <summary>The reason of the latest Retrieve event (null before the first).</summary>
    public OffloadEmu.Chimney.TcpUploadReason? LastTargetRetrieveReason { get; internal set; }
}
