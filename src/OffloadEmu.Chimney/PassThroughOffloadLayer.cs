using System.Collections.Concurrent;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Chimney;

/// <summary>
/// A pass-through intermediate driver: a target to the driver above and a host to the target below. It re-issues
/// every state tree with its own offload handles, passes I/O down with the same NBLs, and maps completions and
/// indications back to the upper handles. Layers stack: host → layer → layer → target.
/// </summary>
/// <remarks>
/// <para>
/// Chimney spec §1, intermediate drivers. State operations: per operation a <see cref="PassThroughCallEntry"/> is
/// created; in every block of the tree the layer saves <see cref="OffloadBlock.ImReserved"/>,
/// <see cref="OffloadBlock.SourceHandle"/> and <see cref="OffloadBlock.NdisOffloadHandle"/>, parks the call entry in
/// <c>ImReserved</c>, writes its own source handle and replaces the upper handle by its own per-object handle (kept
/// with the upper one in a <see cref="PassThroughObjectEntry"/>). The same root goes down; on completion the three
/// fields are restored and the same root completes upward. Placeholders carry no object, so their handle goes down
/// as 0.
/// </para>
/// <para>
/// Contexts. The <see cref="OffloadBlock.MiniportOffloadContext"/> slot passes through untouched, so the lowest target
/// writes its context id straight into the host's slot, as a miniport writes through the PVOID* an NDIS intermediate
/// driver passes down. Context ids are therefore the bottom target's at every level; each layer keys its offload
/// entries by them to check, on every I/O request, that the object is known and not being torn down, and passes the
/// same context down.
/// </para>
/// <para>
/// I/O. Send, receive post, disconnect and forward go down with the same NBL objects and context, and their
/// completions come up unchanged (they carry no handle). Receive return is synchronous and passes down. Indications
/// come up with the stored upper handle; the receive-indicate answer and its byte count pass back synchronously; a
/// neighbour event's block carries the upper handle while the host sees it and the layer's again afterwards, and the
/// host's reachability answer is written in the same block. An I/O request for an unknown object or one whose
/// terminate has gone down cannot be propagated: the layer completes it itself, asynchronously through its own
/// <see cref="CompletionQueue"/> — a send chain with REQUEST_UPLOAD on the first NBL and UPLOAD_REQUESTED on the
/// rest (spec §1, the host then sends in software); [EMU] receive posts, forwards and disconnects with
/// UPLOAD_IN_PROGRESS on every NBL, the status spec §3, §4 and §6.1 define for "the host takes the work back".
/// An indication for an unknown handle is dropped (a receive indication is answered OFFLOAD_DATA_NOT_ACCEPTED so the
/// target keeps its data) and counted in <see cref="UnroutedIndicationCount"/>.
/// </para>
/// <para>
/// Thread safety: requests may come from any thread and completions from the lower target's scheduler; the entry
/// maps are concurrent and the I/O path only reads them, allocating nothing per request.
/// </para>
/// </remarks>
public sealed class PassThroughOffloadLayer : IOffloadTarget, IOffloadHost
{
    private static int s_lastLayerId;

    private readonly IOffloadTarget _lower;
    private readonly CompletionQueue _queue;
    private readonly ConcurrentDictionary<ulong, PassThroughObjectEntry> _byLayerHandle = new();
    private readonly ConcurrentDictionary<ulong, PassThroughObjectEntry> _byContext = new();
    private readonly ulong _handlePrefix;
    private IOffloadHost? _upper;
    private long _lastHandle;
    private long _unroutedIndications;
    private long _selfCompletedRequests;

    /// <summary>Creates a layer over <paramref name="lower"/> and binds itself to it as its host.</summary>
    /// <param name="lower">The target (or layer) below.</param>
    /// <param name="queue">Scheduler for the requests the layer completes itself; a private one when null.</param>
    public PassThroughOffloadLayer(IOffloadTarget lower, CompletionQueue? queue = null)
    {
        ArgumentNullException.ThrowIfNull(lower);
        _lower = lower;
        _queue = queue ?? new CompletionQueue();
        // A distinct top 16 bits per layer keeps the handles of stacked layers (and of hosts using small numbers)
        // apart, which makes a leaked handle visible in traces and tests.
        _handlePrefix = (0xC100UL + (ulong)(uint)Interlocked.Increment(ref s_lastLayerId)) << 48;
        SourceHandle = _handlePrefix;
        lower.Bind(this);
    }

    /// <summary>The handle the layer writes into <see cref="OffloadBlock.SourceHandle"/> of the trees it issues.</summary>
    public ulong SourceHandle { get; }

    /// <summary>Indications from below that named no object the layer knows (a lower target's bug), dropped.</summary>
    public long UnroutedIndicationCount => Interlocked.Read(ref _unroutedIndications);

    /// <summary>I/O requests the layer completed itself because it could not propagate them.</summary>
    public long SelfCompletedRequestCount => Interlocked.Read(ref _selfCompletedRequests);

    /// <summary>Objects the layer currently has an offload entry for (offloaded or being offloaded).</summary>
    public int ObjectCount => _byLayerHandle.Count;

    /// <summary>Objects reachable by context for I/O (offloaded and not yet terminated); for tests.</summary>
    internal int ContextCount => _byContext.Count;

    private IOffloadHost Upper => _upper ?? throw new InvalidOperationException("No host is bound to the pass-through layer.");

    // ----- IOffloadTarget: requests from above -----

    /// <inheritdoc/>
    public void Bind(IOffloadHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (Interlocked.CompareExchange(ref _upper, host, null) is not null)
            throw new InvalidOperationException("A host is already bound to the pass-through layer.");
    }

    /// <inheritdoc/>
    public TcpConnectionOffloadCapabilities CurrentCapabilities => _lower.CurrentCapabilities;

    /// <inheritdoc/>
    public TcpConnectionOffloadCapabilities HardwareCapabilities => _lower.HardwareCapabilities;

    /// <inheritdoc/>
    public NdisStatus SetParameters(OffloadParameters parameters) => _lower.SetParameters(parameters);

    /// <inheritdoc/>
    public MacAddress MacAddress => _lower.MacAddress;

    /// <inheritdoc/>
    public int Mtu => _lower.Mtu;

    /// <inheritdoc/>
    public NdisStatus SendFrame(ReadOnlySpan<byte> frame) => _lower.SendFrame(frame);

    /// <inheritdoc/>
    public TcpOffloadStatisticsSnapshot QueryTcpStatistics(bool ipv6) => _lower.QueryTcpStatistics(ipv6);

    /// <inheritdoc/>
    public IpOffloadStatisticsSnapshot QueryIpStatistics(bool ipv6) => _lower.QueryIpStatistics(ipv6);

    /// <inheritdoc/>
    public void ResetStatistics(bool ipv6) => _lower.ResetStatistics(ipv6);

    /// <inheritdoc/>
    public NdisStatus InitiateOffload(OffloadBlock root) => IssueDown(OffloadOperation.Initiate, root);

    /// <inheritdoc/>
    public NdisStatus TerminateOffload(OffloadBlock root) => IssueDown(OffloadOperation.Terminate, root);

    /// <inheritdoc/>
    public NdisStatus UpdateOffload(OffloadBlock root) => IssueDown(OffloadOperation.Update, root);

    /// <inheritdoc/>
    public NdisStatus InvalidateOffload(OffloadBlock root) => IssueDown(OffloadOperation.Invalidate, root);

    /// <inheritdoc/>
    public NdisStatus QueryOffloadState(OffloadBlock root) => IssueDown(OffloadOperation.Query, root);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadSend(ulong context, NetBufferList chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        if (CanPropagate(context)) return _lower.TcpOffloadSend(context, chain);
        // Spec §1: the first NBL asks the host to upload, the rest say an upload was requested; the host resends them in software.
        NdisStatus status = NdisStatus.RequestUpload;
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            nbl.Status = status;
            nbl.TcpOffloadBytesTransferred = 0;
            status = NdisStatus.UploadRequested;
        }
        Interlocked.Increment(ref _selfCompletedRequests);
        _queue.PostTcpOffloadSendComplete(Upper, chain);
        return NdisStatus.Pending;
    }

    /// <inheritdoc/>
    public NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        if (CanPropagate(context)) return _lower.TcpOffloadReceive(context, chain);
        FailChain(chain);
        _queue.PostTcpOffloadReceiveComplete(Upper, chain);
        return NdisStatus.Pending;
    }

    /// <inheritdoc/>
    public NdisStatus TcpOffloadDisconnect(ulong context, NetBufferList nbl, TcpDisconnectFlags flags)
    {
        ArgumentNullException.ThrowIfNull(nbl);
        if (CanPropagate(context)) return _lower.TcpOffloadDisconnect(context, nbl, flags);
        FailChain(nbl);
        _queue.PostTcpOffloadDisconnectComplete(Upper, nbl);
        return NdisStatus.Pending;
    }

    /// <inheritdoc/>
    public NdisStatus TcpOffloadForward(ulong context, NetBufferList chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        if (CanPropagate(context)) return _lower.TcpOffloadForward(context, chain);
        FailChain(chain);
        _queue.PostTcpOffloadForwardComplete(Upper, chain);
        return NdisStatus.Pending;
    }

    /// <inheritdoc/>
    /// <remarks>Passed down whatever the objects' state: a return cannot fail (spec §9.11) and the NBLs belong to the target.</remarks>
    public NdisStatus TcpOffloadReceiveReturn(NetBufferList chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        return _lower.TcpOffloadReceiveReturn(chain);
    }

    // ----- IOffloadHost: completions and indications from below -----

    /// <inheritdoc/>
    public void InitiateOffloadComplete(OffloadBlock root) => Upper.InitiateOffloadComplete(CompleteUp(OffloadOperation.Initiate, root));

    /// <inheritdoc/>
    public void TerminateOffloadComplete(OffloadBlock root) => Upper.TerminateOffloadComplete(CompleteUp(OffloadOperation.Terminate, root));

    /// <inheritdoc/>
    public void UpdateOffloadComplete(OffloadBlock root) => Upper.UpdateOffloadComplete(CompleteUp(OffloadOperation.Update, root));

    /// <inheritdoc/>
    public void InvalidateOffloadComplete(OffloadBlock root) => Upper.InvalidateOffloadComplete(CompleteUp(OffloadOperation.Invalidate, root));

    /// <inheritdoc/>
    public void QueryOffloadStateComplete(OffloadBlock root) => Upper.QueryOffloadStateComplete(CompleteUp(OffloadOperation.Query, root));

    /// <inheritdoc/>
    public void TcpOffloadSendComplete(NetBufferList chain) => Upper.TcpOffloadSendComplete(chain);

    /// <inheritdoc/>
    public void TcpOffloadReceiveComplete(NetBufferList chain) => Upper.TcpOffloadReceiveComplete(chain);

    /// <inheritdoc/>
    public void TcpOffloadDisconnectComplete(NetBufferList nbl) => Upper.TcpOffloadDisconnectComplete(nbl);

    /// <inheritdoc/>
    public void TcpOffloadForwardComplete(NetBufferList chain) => Upper.TcpOffloadForwardComplete(chain);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        if (!_byLayerHandle.TryGetValue(ndisOffloadHandle, out var entry))
        {
            Interlocked.Increment(ref _unroutedIndications);
            bytesConsumed = 0;
            return NdisStatus.OffloadDataNotAccepted;
        }
        return Upper.TcpOffloadReceiveIndicate(entry.UpperHandle, nbl, status, out bytesConsumed);
    }

    /// <inheritdoc/>
    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info)
    {
        if (!_byLayerHandle.TryGetValue(ndisOffloadHandle, out var entry))
        {
            Interlocked.Increment(ref _unroutedIndications);
            return;
        }
        Upper.TcpOffloadEvent(entry.UpperHandle, type, info);
    }

    /// <inheritdoc/>
    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
    {
        ArgumentNullException.ThrowIfNull(neighborBlock);
        ulong layerHandle = neighborBlock.NdisOffloadHandle;
        if (!_byLayerHandle.TryGetValue(layerHandle, out var entry))
        {
            Interlocked.Increment(ref _unroutedIndications);
            return;
        }
        // Same block up (the host writes HostReachabilityDelta into it, spec §6.4), with the upper handle while the
        // upper driver looks at it and the layer's again when it goes back to the target, which owns it.
        neighborBlock.NdisOffloadHandle = entry.UpperHandle;
        try
        {
            Upper.NeighborOffloadEvent(neighborBlock, code);
        }
        finally
        {
            neighborBlock.NdisOffloadHandle = layerHandle;
        }
    }

    /// <inheritdoc/>
    public void IndicateStatus(NdisStatus adapterStatus) => Upper.IndicateStatus(adapterStatus);

    /// <inheritdoc/>
    public void ReceiveFrame(ReadOnlySpan<byte> frame) => Upper.ReceiveFrame(frame);

    // ----- internals -----

    private bool CanPropagate(ulong context)
        => _byContext.TryGetValue(context, out var entry) && !entry.TearingDown;

    // Receive posts, forwards and disconnects the layer cannot propagate: the host takes the work back (spec §3, §4, §6.1).
    private void FailChain(NetBufferList chain)
    {
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            nbl.Status = NdisStatus.UploadInProgress;
            nbl.TcpOffloadBytesTransferred = 0;
        }
        Interlocked.Increment(ref _selfCompletedRequests);
    }

    private NdisStatus IssueDown(OffloadOperation operation, OffloadBlock root)
    {
        ArgumentNullException.ThrowIfNull(root);
        _ = Upper;
        var call = new PassThroughCallEntry(this, operation, root);
        // Capture and rewrite every block before the tree goes down: the target owns it from the call on and may
        // complete it on another thread before the call returns.
        foreach (var visit in OffloadTree.Traverse(root))
        {
            var block = visit.Block;
            var role = block.Role;
            PassThroughObjectEntry? entry = null;
            ulong downHandle = 0;
            switch (role)
            {
                case OffloadBlockRole.NewOffload:
                    entry = new PassThroughObjectEntry(block.NdisOffloadHandle, _handlePrefix | (ulong)Interlocked.Increment(ref _lastHandle));
                    // Registered by handle at once: the target may indicate on the object as soon as it is installed.
                    _byLayerHandle[entry.LayerHandle] = entry;
                    downHandle = entry.LayerHandle;
                    break;
                case OffloadBlockRole.Linker:
                    if (_byContext.TryGetValue(block.MiniportOffloadContext!.Context, out entry))
                    {
                        downHandle = entry.LayerHandle;
                        // Spec §1: once the terminate is below, new I/O on the object is completed here, not propagated.
                        if (operation == OffloadOperation.Terminate) entry.TearingDown = true;
                    }
                    break;
            }
            call.Blocks.Add(new PassThroughSavedBlock(block, block.ImReserved, block.SourceHandle, block.NdisOffloadHandle, role, entry));
            block.ImReserved = call;
            block.SourceHandle = SourceHandle;
            block.NdisOffloadHandle = downHandle;
        }
        try
        {
            return operation switch
            {
                OffloadOperation.Initiate => _lower.InitiateOffload(root),
                OffloadOperation.Terminate => _lower.TerminateOffload(root),
                OffloadOperation.Update => _lower.UpdateOffload(root),
                OffloadOperation.Invalidate => _lower.InvalidateOffload(root),
                _ => _lower.QueryOffloadState(root),
            };
        }
        catch
        {
            // The request never got below: give the caller its tree back as it was and forget the new entries.
            foreach (var saved in call.Blocks)
            {
                if (saved.Role == OffloadBlockRole.NewOffload && saved.Entry is { } entry) _byLayerHandle.TryRemove(entry.LayerHandle, out _);
                if (saved.Entry is { } linked && operation == OffloadOperation.Terminate) linked.TearingDown = false;
                Restore(saved);
            }
            throw;
        }
    }

    private static void Restore(in PassThroughSavedBlock saved)
    {
        saved.Block.ImReserved = saved.ImReserved;
        saved.Block.SourceHandle = saved.SourceHandle;
        saved.Block.NdisOffloadHandle = saved.NdisOffloadHandle;
    }

    private OffloadBlock CompleteUp(OffloadOperation operation, OffloadBlock root)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (root.ImReserved is not PassThroughCallEntry call || call.Owner != this || call.Root != root)
            throw new InvalidOperationException($"{operation} completion of a tree this layer never issued ({root}).");
        if (call.Operation != operation)
            throw new InvalidOperationException($"{operation} completion of a tree issued as {call.Operation} ({root}).");
        lock (call)
        {
            if (call.Completed) throw new InvalidOperationException($"Second {operation} completion of the same tree ({root}).");
            call.Completed = true;
        }
        foreach (var saved in call.Blocks)
        {
            var block = saved.Block;
            if (saved.Entry is { } entry)
            {
                if (operation == OffloadOperation.Terminate)
                {
                    // Terminate frees the object whatever its status (FAILURE = state lost, spec §6.6).
                    _byContext.TryRemove(entry.Context, out _);
                    _byLayerHandle.TryRemove(entry.LayerHandle, out _);
                }
                else if (saved.Role == OffloadBlockRole.NewOffload)
                {
                    var slot = block.MiniportOffloadContext!;
                    if (OffloadTree.IsOffloaded(block.Status) && slot.HasContext)
                    {
                        entry.Context = slot.Context;
                        _byContext[entry.Context] = entry;
                    }
                    else
                    {
                        _byLayerHandle.TryRemove(entry.LayerHandle, out _);
                    }
                }
            }
            Restore(saved);
        }
        return root;
    }
}
