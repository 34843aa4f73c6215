namespace OffloadEmu.Chimney;

/// <summary>
/// The host side of the chimney contract (the protocol's <c>Protocol*</c> handlers): completions of the requests made
/// to an <see cref="IOffloadTarget"/> and the target's indications.
/// </summary>
/// <remarks>
/// <para>
/// Chimney spec §0, §1, §3 and §6. Completions hand back the same root block or the same NBL objects the request
/// carried. Indications name the object by the host's <see cref="OffloadBlock.NdisOffloadHandle"/>. A target calls
/// these from a scheduler thread, never from inside a host request and never from its engine thread (architecture §3).
/// </para>
/// <para>
/// The handlers that answer synchronously are <see cref="TcpOffloadReceiveIndicate"/> (the acceptance answer) and
/// <see cref="NeighborOffloadEvent"/> (the host writes the host reachability delta into the block before returning).
/// </para>
/// </remarks>
public interface IOffloadHost
{
    /// <summary>ProtocolInitiateOffloadComplete: the same root, a status written in every block (spec §2).</summary>
    void InitiateOffloadComplete(OffloadBlock root);

    /// <summary>ProtocolTerminateOffloadComplete: the same root, delegated state and returned data filled in (spec §6.6).</summary>
    void TerminateOffloadComplete(OffloadBlock root);

    /// <summary>ProtocolUpdateOffloadComplete (spec §6.7).</summary>
    void UpdateOffloadComplete(OffloadBlock root);

    /// <summary>ProtocolInvalidateOffloadComplete (spec §6.7).</summary>
    void InvalidateOffloadComplete(OffloadBlock root);

    /// <summary>ProtocolQueryOffloadComplete: the same root with current state written (spec §6.7).</summary>
    void QueryOffloadStateComplete(OffloadBlock root);

    /// <summary>ProtocolTcpOffloadSendComplete: completed send NBLs, possibly batched across requests (spec §5).</summary>
    void TcpOffloadSendComplete(NetBufferList chain);

    /// <summary>ProtocolTcpOffloadReceiveComplete: completed receive posts, in post order (spec §3).</summary>
    void TcpOffloadReceiveComplete(NetBufferList chain);

    /// <summary>ProtocolTcpOffloadDisconnectComplete: the one NBL of the disconnect (spec §6.1).</summary>
    void TcpOffloadDisconnectComplete(NetBufferList nbl);

    /// <summary>ProtocolTcpOffloadForwardComplete: the same NBLs the forward passed, each with its status (spec §4).</summary>
    void TcpOffloadForwardComplete(NetBufferList chain);

    /// <summary>
    /// ProtocolTcpOffloadReceiveIndicate: data with no receive post to take it (spec §3). <paramref name="status"/> is
    /// always SUCCESS from a target. The host answers SUCCESS (took everything; it owns the NBL until
    /// <see cref="IOffloadTarget.TcpOffloadReceiveReturn"/>), <see cref="NdisStatus.OffloadDataNotAccepted"/>
    /// (<paramref name="bytesConsumed"/> = 0; the target keeps the NBL) or
    /// <see cref="NdisStatus.OffloadDataPartiallyAccepted"/> (<paramref name="bytesConsumed"/> &gt; 0 bytes taken
    /// from the start; the target keeps the rest).
    /// </summary>
    NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed);

    /// <summary>
    /// ProtocolTcpOffloadEvent (spec §6.2, §6.3, §5): <paramref name="info"/> is the <see cref="TcpUploadReason"/> of a
    /// <see cref="TcpOffloadEventType.Retrieve"/>, the new backlog size in bytes of a
    /// <see cref="TcpOffloadEventType.SendBacklogChange"/>, and 0 otherwise.
    /// </summary>
    void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info);

    /// <summary>
    /// ProtocolIndicateOffloadEvent for a neighbour (spec §6.4): one block (links null, status SUCCESS) with the
    /// neighbour's const, cached and delegated state. For <see cref="NeighborEventCode.Query"/> the host writes
    /// <c>NeighborCached.HostReachabilityDelta</c> before returning (0 = its entry is stale).
    /// </summary>
    void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code);

    /// <summary>
    /// Adapter status for offload (NdisMIndicateStatusEx, spec §6.6): <see cref="NdisStatus.OffloadPause"/>,
    /// <see cref="NdisStatus.UploadAll"/> or <see cref="NdisStatus.OffloadResume"/>; <see cref="NdisStatus.AdapterRemoved"/>
    /// when the target is gone for good (a remote target's control session closed), after everything it had completed.
    /// </summary>
    void IndicateStatus(NdisStatus adapterStatus);
    /// <summary>
    /// The non-offload receive path (NdisMIndicateReceiveNetBufferLists): a frame that is not for an offloaded
    /// connection (ARP, ICMP, IP fragments, IPv4 options, other TCP, segments arriving during a terminate, held urgent
    /// data after an upload, anything else), handed up unchanged (spec §6.2, §6.5). The span is valid only during the
    /// call; the host copies what it keeps.
    /// </summary>
    void ReceiveFrame(ReadOnlySpan<byte> frame);
}
