namespace OffloadEmu.Chimney;

/// <summary>The target's state-tree completions (chimney spec §1, §2, §5, §6.6, §6.7).</summary>
public sealed partial class ContractChecker
{
    // Checks and applies one tree completion; raises what it found (throwing in Throw mode, so nothing is forwarded).
    private ContractCheckerTree? CompleteTree(OffloadOperation operation, OffloadBlock root)
    {
        ArgumentNullException.ThrowIfNull(root);
        List<ContractViolation>? found = null;
        ContractCheckerTree? tree = null;
        lock (_lock)
        {
            if (!_trees.TryGetValue(root, out var pending))
            {
                if (_recentCompleted.Contains(root))
                    Add(ref found, ContractRule.DuplicateCompletion, null, null, $"{operation} completion of a tree that already completed ({root})", handle: root.NdisOffloadHandle);
                else
                    Add(ref found, ContractRule.UnknownCompletion, null, null, $"{operation} completion of a tree no request carried ({root})", handle: root.NdisOffloadHandle);
            }
            else if (pending.Operation != operation)
            {
                Add(ref found, ContractRule.UnknownCompletion, null, null, $"{operation} completion of a tree issued as {pending.Operation} ({root})", handle: root.NdisOffloadHandle);
            }
            else
            {
                tree = pending;
                _trees.Remove(root);
                _recentCompleted.Add(root);
                foreach (var b in tree.Blocks)
                {
                    _blocksInFlight.Remove(b.Block);
                    CheckBlockCompletion(operation, b, ref found);
                    Apply(operation, b, tree.Blocks, ref found);
                }
            }
        }
        if (found is not null) Raise(found);
        return tree;
    }

    private static void CheckBlockCompletion(OffloadOperation operation, in ContractCheckerTreeBlock b, ref List<ContractViolation>? found)
    {
        var block = b.Block;
        var status = block.Status;
        var obj = b.Object;
        ulong handle = block.NdisOffloadHandle;
        if (status == NdisStatus.Pending)
            Add(ref found, ContractRule.InvalidTreeCompletion, obj, null, $"{operation} completed with PENDING in block {block}; every block gets its outcome", handle: handle);
        else if (operation != OffloadOperation.Initiate && status is not (NdisStatus.Success or NdisStatus.Failure))
            Add(ref found, ContractRule.InvalidTreeCompletion, obj, null, $"{operation} completed block {block} with {status}; partial and resource codes are legal only at initiate", handle: handle);
        else if (operation == OffloadOperation.Initiate && b.Role == OffloadBlockRole.Placeholder && status != NdisStatus.Success)
            Add(ref found, ContractRule.InvalidTreeCompletion, obj, null, $"Initiate completed placeholder {block} with {status}; placeholders are always SUCCESS", handle: handle);
        else if (operation == OffloadOperation.Initiate && b.Role == OffloadBlockRole.NewOffload)
        {
            bool offloaded = OffloadTree.IsOffloaded(status);
            bool written = block.MiniportOffloadContext is { HasContext: true };
            if (offloaded && !written)
                Add(ref found, ContractRule.InvalidTreeCompletion, obj, null, $"Initiate completed new offload {block} as {status} without writing its context", handle: handle);
            else if (!offloaded && written)
                Add(ref found, ContractRule.InvalidTreeCompletion, obj, null, $"Initiate failed new offload {block} ({status}) but wrote its context slot", handle: handle);
        }
        if (!ReferenceEquals(block.ImReserved, b.ImReserved) || block.SourceHandle != b.SourceHandle)
            Add(ref found, ContractRule.InvalidTreeCompletion, obj, null, $"{operation} completed block {block} with ImReserved or SourceHandle changed; the target must not touch them", handle: handle);
    }

    private void Apply(OffloadOperation operation, in ContractCheckerTreeBlock b, List<ContractCheckerTreeBlock> blocks, ref List<ContractViolation>? found)
    {
        if (b.Object is not { } obj) return;
        switch (operation)
        {
            case OffloadOperation.Initiate when b.Role == OffloadBlockRole.NewOffload:
                if (OffloadTree.IsOffloaded(b.Block.Status) && obj.Slot.HasContext)
                {
                    obj.Context = obj.Slot.Context;
                    if (_byContext.TryGetValue(obj.Context, out var other) && other != obj)
                        Add(ref found, ContractRule.InvalidTreeCompletion, obj, null, $"Initiate gave new object {b.Block} context 0x{obj.Context:x}, which a live object already has");
                    else
                        _byContext[obj.Context] = obj;
                }
                else
                {
                    Forget(obj, b.Block);
                }
                break;
            case OffloadOperation.Terminate:
                if (obj.State == ContractCheckerObjectState.Terminating) Terminated(obj, b.Block, ref found);
                break;
            case OffloadOperation.Update:
                obj.PendingUpdates--;
                obj.PendingStateOperations--;
                // A relink (spec §6.7): the paths under the update's neighbour now depend on it.
                if (b.Block.Status == NdisStatus.Success && b.Parent is { } parentBlock && FindObject(blocks, parentBlock) is { } parent && parent != obj)
                    obj.Parent = parent;
                break;
            case OffloadOperation.Invalidate:
                obj.PendingStateOperations--;
                if (b.Block.Status == NdisStatus.Success) obj.Invalidated = true;
                break;
            case OffloadOperation.Query:
                obj.PendingStateOperations--;
                break;
        }
    }

    private static ContractCheckerObject? FindObject(List<ContractCheckerTreeBlock> blocks, OffloadBlock block)
    {
        foreach (var b in blocks)
        {
            if (ReferenceEquals(b.Block, block)) return b.Object;
        }
        return null;
    }

    // Terminate completed (whatever its status, spec §6.6): returned sends leave, everything else must be done, then the object goes.
    private void Terminated(ContractCheckerObject obj, OffloadBlock block, ref List<ContractViolation>? found)
    {
        if (obj.Layer == OffloadLayer.Tcp)
        {
            TakeReturnedSends(obj, block.NetBufferListChain ?? block.TcpDelegated?.SendDataHead, ref found);
            if (obj.OutstandingIo > 0)
                Add(ref found, ContractRule.TerminateWithOutstandingIo, obj, null,
                    $"Terminate completed with {obj.OutstandingSends} sends (not returned), {obj.OutstandingReceives} receive posts, {obj.OutstandingDisconnects} disconnects and {obj.OutstandingForwards} forwards of the connection outstanding; all complete first");
            if (obj.DeliveryDepth > 0)
                Add(ref found, ContractRule.TerminateWithOutstandingIo, obj, null, "Terminate completed while a receive indication or completion of the connection is in progress");
            TakeBufferedData(obj, block.TcpDelegated?.BufferedData, ref found);
        }
        obj.State = ContractCheckerObjectState.Terminated;
        if (_byContext.TryGetValue(obj.Context, out var byContext) && byContext == obj) _byContext.Remove(obj.Context);
        if (_byHandle.TryGetValue(obj.Handle, out var byHandle) && byHandle == obj) _byHandle.Remove(obj.Handle);
        if (_bySlot.TryGetValue(obj.Slot, out var bySlot) && bySlot == obj) _bySlot.Remove(obj.Slot);
    }

    // Sends handed back in the block instead of completed (spec §5 "at terminate"): outstanding sends of this connection, oldest first.
    private void TakeReturnedSends(ContractCheckerObject obj, NetBufferList? chain, ref List<ContractViolation>? found)
    {
        if (chain is null) return;
        if (HasCycle(chain))
        {
            Add(ref found, ContractRule.DuplicateCompletion, obj, chain, "Terminate returned send data as a chain with a cycle");
            return;
        }
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            if (!_nbls.TryGetValue(nbl, out var entry) || entry.Kind != ContractCheckerNblKind.Send || entry.Object != obj)
            {
                Add(ref found, _recentCompleted.Contains(nbl) ? ContractRule.DuplicateCompletion : ContractRule.UnknownCompletion, obj, nbl,
                    "Terminate returned an NBL that is not an outstanding send of the connection");
                continue;
            }
            CheckFifo(obj, obj.Sends!, nbl, entry, "send returned at terminate", ref found);
            _nbls.Remove(nbl);
            _recentCompleted.Add(nbl);
            Released(entry);
        }
    }

    // Undelivered receive data handed back (spec §6.6): the host owns it and gives it back by receive return.
    private void TakeBufferedData(ContractCheckerObject obj, NetBufferList? chain, ref List<ContractViolation>? found)
    {
        if (chain is null || HasCycle(chain)) return;
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            if (_nbls.TryGetValue(nbl, out var owned))
            {
                Add(ref found, ContractRule.IndicationNblInUse, obj, nbl, $"Terminate returned as buffered data an NBL the host {(owned.Kind == ContractCheckerNblKind.Indicated ? "still holds from an indication" : "posted as a " + KindName(owned.Kind))}");
                continue;
            }
            _nbls.Add(nbl, new ContractCheckerNbl { Kind = ContractCheckerNblKind.Indicated, Object = obj, Seq = ++_clock, Length = nbl.DataLength });
            _recentReturned.Remove(nbl);
        }
    }
}
