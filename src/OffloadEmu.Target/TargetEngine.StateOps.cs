using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;

namespace OffloadEmu.Target;

internal sealed partial class TargetEngine
{
    // ---- terminate (spec §6.6) ----------------------------------------------------------------------------------------

    private void Terminate(OffloadBlock root, Instant now)
    {
        var op = new TerminateOperation(root);
        foreach (var visit in OffloadTree.Traverse(root))
        {
            var block = visit.Block;
            block.Status = NdisStatus.Success;
            if (block.MiniportOffloadContext is not { HasContext: true } slot) continue;
            if (!TryGetAnyObject(slot.Context, out var obj) || obj.Terminated)
            {
                block.Status = NdisStatus.Failure;
                continue;
            }
            if (obj is TcpConnection c)
            {
                if (c.Terminating is not null)
                {
                    block.Status = NdisStatus.Failure; // a second terminate of the same connection
                    continue;
                }
                block.MiniportReserved = c;
                c.Terminating = op;
                op.Remaining++;
                c.CompletePendingForUpload();
                c.MarkDirty();
            }
        }
        if (op.Remaining == 0) CompleteTerminate(op, now);
    }

    /// <summary>Drains one connection of a terminate once its indication (if any) came back: owed ACKs out, delegated
    /// state, unacknowledged send data and undelivered receive data written into its block, then freed.</summary>
    private void FinishConnectionTerminate(TcpConnection c, TerminateOperation op, Instant now)
    {
        var block = FindBlock(op.Root, c);
        var m = c.Machine;
        if (c.CanTransmit && m.FlushDelayedAck())
        {
            // Spec §6.6: delayed-ACK/push timers are flushed, not transferred; the owed ACK goes out now.
            Transmit(c, now);
        }
        c.CompletePendingForUpload();
        if (block is not null)
        {
            if (c.HardwareFailed)
            {
                // The hardware-corrupt path: state lost.
                block.Status = NdisStatus.Failure;
                c.TakeUnacknowledgedSends(); // already failed REQUEST_ABORTED by CompletePendingForUpload
            }
            else
            {
                var state = block.TcpDelegated ??= new TcpDelegatedState();
                m.ExportDelegatedState(state, now);
                if (c.ClosedByUpload) state.State = TcpState.Closed;
                var (head, tail) = c.TakeUnacknowledgedSends();
                state.SendDataHead = head;
                state.SendDataTail = tail;
                block.NetBufferListChain = head;
                state.BufferedData = c.TakeBufferedData();
                state.SendBacklogSize = c.SendBacklog;
                state.ReceiveBacklogSize = 0;
                block.Status = NdisStatus.Success;
            }
        }
        c.FlushCompletions();
        RemoveConnection(c);
        // The rest touches the operation and the shared path: the coordinator's (at once when this is it).
        if (Index == 0) ConnectionTerminateDone(c, op, now);
        else Loops[0].Enqueue(new TargetRequest(RequestKind.TerminateFinished, 0, c));
    }

    /// <summary>Coordinator: one connection of <paramref name="op"/> is drained and gone from its loop.</summary>
    private void ConnectionTerminateDone(TcpConnection c, TerminateOperation op, Instant now)
    {
        c.Path.Dependents--;
        if (c.HeldFramesIfAny is { } held)
        {
            op.FramesAfter.InsertRange(0, held);
            held.Clear();
        }
        op.Remaining--;
        if (op.Remaining == 0) CompleteTerminate(op, now);
    }

    private static OffloadBlock? FindBlock(OffloadBlock root, TcpConnection c)
    {
        foreach (var visit in OffloadTree.Traverse(root))
            if (ReferenceEquals(visit.Block.MiniportReserved, c)) return visit.Block;
        return null;
    }

    private void RemoveConnection(TcpConnection c)
    {
        c.UncountEstablished();
        c.Terminated = true;
        // Its receive storage (normally already given back: the buffered bytes went into the terminate's state) returns to
        // the pool now rather than to the garbage collector.
        c.Machine.ReleaseReceiveBuffer();
        c.ReleaseStaged();
        _objects.Remove(c.Context);
        _connections.Remove(c.Key);
        Volatile.Write(ref _tcpCount, _tcpCount - 1);
        TargetLog.Uploaded(_logger, c.ToString());
    }

    // Paths and neighbours are terminated after their dependents (the host never terminates one with dependents left).
    private void CompleteTerminate(TerminateOperation op, Instant now)
    {
        var visits = new List<OffloadBlock>();
        foreach (var visit in OffloadTree.Traverse(op.Root)) visits.Add(visit.Block);
        for (int i = visits.Count - 1; i >= 0; i--)
        {
            var block = visits[i];
            block.MiniportReserved = null;
            if (block.MiniportOffloadContext is not { HasContext: true } slot || block.Status != NdisStatus.Success) continue;
            if (!TryGetAnyObject(slot.Context, out var obj)) continue;
            switch (obj)
            {
                case PathObject path:
                    if (path.Dependents > 0)
                    {
                        block.Status = NdisStatus.Failure;
                        continue;
                    }
                    path.Terminated = true;
                    path.Neighbor.Dependents--;
                    Loops[LoopOfContext(path.Context)]._objects.Remove(path.Context);
                    _pathCount--;
                    break;
                case NeighborObject neighbor:
                    if (neighbor.Dependents > 0)
                    {
                        block.Status = NdisStatus.Failure;
                        continue;
                    }
                    block.NeighborDelegated = new NeighborDelegatedState { NicReachabilityDelta = unchecked(NicTicks(now) - neighbor.Nrt) };
                    neighbor.Terminated = true;
                    Loops[LoopOfContext(neighbor.Context)]._objects.Remove(neighbor.Context);
                    _neighborCount--;
                    break;
            }
        }
        Completions.PostTerminateOffloadComplete(Host, op.Root);
        PassUpLater(op.FramesAfter); // held urgent data and what came after it: processed by the host after the upload
    }

    // ---- update (spec §6.7) -------------------------------------------------------------------------------------------

    private void Update(OffloadBlock root, Instant now)
    {
        foreach (var visit in OffloadTree.Traverse(root))
        {
            var block = visit.Block;
            block.Status = NdisStatus.Success;
            if (block.MiniportOffloadContext is not { HasContext: true } slot) continue;
            if (!TryGetAnyObject(slot.Context, out var obj) || obj.Terminated || obj is TcpConnection { Terminating: not null })
            {
                block.Status = NdisStatus.Failure;
                continue;
            }
            switch (obj)
            {
                case NeighborObject neighbor:
                    if (block.NeighborCached is { } nc)
                    {
                        neighbor.Cached = nc;
                        neighbor.Hrt = unchecked(NicTicks(now) - nc.HostReachabilityDelta);
                    }
                    break;
                case PathObject path:
                    // Relink (spec §6.7): a path listed under a neighbour moves to that neighbour.
                    if (visit.Parent?.MiniportOffloadContext is { HasContext: true } parentSlot
                        && TryGetAnyObject(parentSlot.Context, out var parentObj) && parentObj is NeighborObject newNeighbor
                        && !ReferenceEquals(newNeighbor, path.Neighbor))
                    {
                        path.Neighbor.Dependents--;
                        path.Neighbor = newNeighbor;
                        newNeighbor.Dependents++;
                    }
                    if (block.PathCached is { } pc && pc.PathMtu != path.Cached.PathMtu)
                    {
                        if (pc.PathMtu > (uint)_device.Mtu || pc.PathMtu < (path.IsIpv6 ? MinIpv6Mtu : MinIpv4Mtu))
                        {
                            block.Status = NdisStatus.Failure;
                            continue;
                        }
                        path.Cached = pc;
                        foreach (var c in AllConnections)
                        {
                            if (!ReferenceEquals(c.Path, path)) continue;
                            c.Machine.SetPathMss(PathMss(path));
                            c.MarkDirty();
                        }
                    }
                    break;
                case TcpConnection c:
                    if (block.TcpCached is { } tc)
                    {
                        // UPDATE_RCV_WND: a new buffer beyond what an initiate would accept is refused (the connection
                        // keeps its window; the host may upload it), as at initiate (OFFLOAD_TCP_RCV_WINDOW there).
                        if ((tc.Flags & TcpCachedFlags.UpdateRcvWnd) != 0 && tc.InitialRcvWnd > Options.MaxReceiveWindow)
                        {
                            block.Status = NdisStatus.Failure;
                            continue;
                        }
                        c.Machine.UpdateCachedState(tc, now);
                        c.Cached = tc;
                        c.MarkDirty();
                    }
                    break;
            }
        }
        Completions.PostUpdateOffloadComplete(Host, root);
    }

    // ---- invalidate (spec §6.7) ---------------------------------------------------------------------------------------

    private void Invalidate(OffloadBlock root)
    {
        foreach (var visit in OffloadTree.Traverse(root))
        {
            var block = visit.Block;
            block.Status = NdisStatus.Success;
            if (block.MiniportOffloadContext is not { HasContext: true } slot) continue;
            if (!TryGetAnyObject(slot.Context, out var obj) || obj.Terminated)
            {
                block.Status = NdisStatus.Failure;
                continue;
            }
            obj.Invalid = true;
        }
        // Connections on invalid objects stop sending at once and ask to be uploaded; objects stay until terminate.
        foreach (var c in AllConnections)
        {
            if (!c.Invalid && !c.Path.EffectivelyInvalid) continue;
            c.RequestRetrieve(TcpUploadReason.InvalidState);
            c.MarkDirty();
        }
        Completions.PostInvalidateOffloadComplete(Host, root);
    }

    // ---- query (spec §6.7) --------------------------------------------------------------------------------------------

    private void Query(OffloadBlock root, Instant now)
    {
        foreach (var visit in OffloadTree.Traverse(root))
        {
            var block = visit.Block;
            block.Status = NdisStatus.Success;
            if (block.MiniportOffloadContext is not { HasContext: true } slot) continue;
            if (!TryGetAnyObject(slot.Context, out var obj) || obj.Terminated)
            {
                block.Status = NdisStatus.Failure;
                continue;
            }
            var classes = block.Type.GetStateClasses();
            bool wantConst = classes.HasFlag(OffloadStateClasses.Const);
            bool wantCached = classes.HasFlag(OffloadStateClasses.Cached);
            bool wantDelegated = classes.HasFlag(OffloadStateClasses.Delegated);
            switch (obj)
            {
                case NeighborObject n:
                    if (wantConst) block.NeighborConst = n.Const;
                    if (wantCached) block.NeighborCached = n.Cached;
                    if (wantDelegated) block.NeighborDelegated = new NeighborDelegatedState { NicReachabilityDelta = unchecked(NicTicks(now) - n.Nrt) };
                    break;
                case PathObject p:
                    if (wantConst) block.PathConst = p.Const;
                    if (wantCached) block.PathCached = p.Cached;
                    if (wantDelegated) block.PathDelegated = new PathDelegatedState();
                    break;
                case TcpConnection c:
                    if (wantConst) block.TcpConst = c.Const;
                    if (wantCached) block.TcpCached = c.Cached;
                    if (wantDelegated)
                    {
                        var state = block.TcpDelegated ??= new TcpDelegatedState();
                        c.Machine.ExportDelegatedState(state, now);
                        if (c.ClosedByUpload) state.State = TcpState.Closed;
                        state.SendDataHead = null;
                        state.SendDataTail = null;
                        state.BufferedData = null;
                        state.SendBacklogSize = c.SendBacklog;
                        state.ReceiveBacklogSize = (uint)c.Machine.ReceiveBufferedBytes;
                    }
                    break;
            }
        }
        Completions.PostQueryOffloadStateComplete(Host, root);
    }

    // ---- neighbour reachability (spec §6.4) ---------------------------------------------------------------------------

    /// <summary>Before sending: when both the NIC's and the host's view of the neighbour are older than NceStaleTicks,
    /// ask the host (one NeighborReachabilityQuery at a time).</summary>
    private void CheckReachability(TcpConnection c, Instant now)
    {
        var n = c.Path.Neighbor;
        if (n.QueryOutstanding) return; // a cheap look first; IndicateNeighborQuery claims it atomically
        var m = c.Machine;
        if (m.UnsentBytes == 0 && m.SndMax == m.SndUna) return;
        uint nct = NicTicks(now);
        uint stale = _parameters.NceStaleTicks;
        if (unchecked(nct - n.Nrt) <= stale || unchecked(nct - n.Hrt) <= stale) return;
        IndicateNeighborQuery(n, nct);
    }

    /// <summary>The TCP machine doubts reachability (TcpDoubtReachabilityRetransmissions): ask now unless muted.</summary>
    public void ForceReachabilityQuery(NeighborObject n)
    {
        uint nct = NicTicks(_now);
        if (n.QueryOutstanding || unchecked(nct - n.Hrt) <= _parameters.NceStaleTicks) return;
        IndicateNeighborQuery(n, nct);
    }

    private void IndicateNeighborQuery(NeighborObject n, uint nct)
    {
        if (!n.TryBeginQuery()) return; // another loop's connection on the same neighbour asked first
        var block = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            NdisOffloadHandle = n.Handle,
            Status = NdisStatus.Success,
            NeighborConst = n.Const,
            NeighborCached = n.Cached,
            NeighborDelegated = new NeighborDelegatedState { NicReachabilityDelta = unchecked(nct - n.Nrt) },
            MiniportReserved = n,
        };
        Completions.Schedule(_neighborQueryCallback, block);
    }

    private void NeighborQueryOnCompletionThread(object? state)
    {
        var block = (OffloadBlock)state!;
        var n = (NeighborObject)block.MiniportReserved!;
        block.MiniportReserved = null;
        try
        {
            Host.NeighborOffloadEvent(block, NeighborEventCode.Query);
        }
        finally
        {
            block.MiniportReserved = n;
            Enqueue(new TargetRequest(RequestKind.NeighborQueryAnswered, 0, block));
        }
    }

    private void OnNeighborQueryAnswered(OffloadBlock block, Instant now)
    {
        var n = (NeighborObject)block.MiniportReserved!;
        n.EndQuery();
        uint hrd = block.NeighborCached?.HostReachabilityDelta ?? 0;
        uint nct = NicTicks(now);
        // HRD 0: the host's entry is stale; HRT = NCT mutes re-queries for NceStaleTicks (spec §6.4).
        n.Hrt = hrd == 0 ? nct : unchecked(nct - hrd);
    }
}
