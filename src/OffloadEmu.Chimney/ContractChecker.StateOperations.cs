namespace OffloadEmu.Chimney;

/// <summary>State trees: initiate, terminate, update, invalidate, query and their completions (chimney spec §1, §2, §6.6, §6.7).</summary>
public sealed partial class ContractChecker
{
    /// <inheritdoc/>
    public NdisStatus InitiateOffload(OffloadBlock root) => Issue(OffloadOperation.Initiate, root);

    /// <inheritdoc/>
    public NdisStatus TerminateOffload(OffloadBlock root) => Issue(OffloadOperation.Terminate, root);

    /// <inheritdoc/>
    public NdisStatus UpdateOffload(OffloadBlock root) => Issue(OffloadOperation.Update, root);

    /// <inheritdoc/>
    public NdisStatus InvalidateOffload(OffloadBlock root) => Issue(OffloadOperation.Invalidate, root);

    /// <inheritdoc/>
    public NdisStatus QueryOffloadState(OffloadBlock root) => Issue(OffloadOperation.Query, root);

    /// <inheritdoc/>
    public void InitiateOffloadComplete(OffloadBlock root)
    {
        var tree = CompleteTree(OffloadOperation.Initiate, root);
        Upper.InitiateOffloadComplete(root);
        if (tree is null) return;
        // The completion has returned: from now on the target may indicate data (spec §3, buffered data at initiate).
        lock (_lock)
        {
            foreach (var block in tree.Blocks)
            {
                if (block.Role == OffloadBlockRole.NewOffload && block.Object is { State: ContractCheckerObjectState.Offloading } obj)
                    obj.State = ContractCheckerObjectState.Offloaded;
            }
        }
    }

    /// <inheritdoc/>
    public void TerminateOffloadComplete(OffloadBlock root)
    {
        CompleteTree(OffloadOperation.Terminate, root);
        Upper.TerminateOffloadComplete(root);
    }

    /// <inheritdoc/>
    public void UpdateOffloadComplete(OffloadBlock root)
    {
        CompleteTree(OffloadOperation.Update, root);
        Upper.UpdateOffloadComplete(root);
    }

    /// <inheritdoc/>
    public void InvalidateOffloadComplete(OffloadBlock root)
    {
        CompleteTree(OffloadOperation.Invalidate, root);
        Upper.InvalidateOffloadComplete(root);
    }

    /// <inheritdoc/>
    public void QueryOffloadStateComplete(OffloadBlock root)
    {
        CompleteTree(OffloadOperation.Query, root);
        Upper.QueryOffloadStateComplete(root);
    }

    private NdisStatus Issue(OffloadOperation operation, OffloadBlock root)
    {
        ArgumentNullException.ThrowIfNull(root);
        List<ContractViolation>? found = null;
        ContractCheckerTree? tree = null;
        lock (_lock)
        {
            long request = ++_clock;
            var blocks = CollectTree(operation, root, ref found);
            if (found is null || !Throws) tree = CommitTree(operation, root, blocks, request);
        }
        if (found is not null) Raise(found);

        NdisStatus status;
        try
        {
            status = operation switch
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
            if (tree is not null)
            {
                lock (_lock) Abandon(tree);
            }
            throw;
        }
        if (status == NdisStatus.Pending) return status;

        List<ContractViolation>? late = null;
        lock (_lock)
        {
            if (tree is not null) Abandon(tree);
            Add(ref late, ContractRule.RequestNotPending, null, null, $"{operation} returned {status}; state operations return PENDING and complete later",
                root.MiniportOffloadContext?.Context ?? 0, root.NdisOffloadHandle);
        }
        Raise(late!);
        return status;
    }

    // Walks the tree (depth first, then breadth, spec §2), checking shape and the objects it names; no state changes.
    private List<ContractCheckerTreeBlock> CollectTree(OffloadOperation operation, OffloadBlock root, ref List<ContractViolation>? found)
    {
        var blocks = new List<ContractCheckerTreeBlock>();
        var visited = new HashSet<OffloadBlock>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(OffloadBlock Block, OffloadBlock? Parent)>();
        stack.Push((root, null));
        bool rootValid = IsDefinedType(root.Type);
        while (stack.Count > 0)
        {
            var (block, parent) = stack.Pop();
            if (!visited.Add(block))
            {
                Add(ref found, ContractRule.MalformedTree, null, null, $"{operation} tree holds block {block} twice (a cycle or a shared block)", handle: block.NdisOffloadHandle);
                continue;
            }
            bool valid = IsDefinedType(block.Type);
            if (!valid)
                Add(ref found, ContractRule.MalformedTree, null, null, $"{operation} tree holds a block of undefined type {(int)block.Type}", handle: block.NdisOffloadHandle);
            else if (parent is not null && IsDefinedType(parent.Type) && (int)block.Layer != (int)parent.Layer + 1)
                Add(ref found, ContractRule.MalformedTree, null, null,
                    $"{operation} tree: a {block.Layer} block depends on a {parent.Layer} block; dependents run neighbour, path, TCP", handle: block.NdisOffloadHandle);
            else if (parent is null && rootValid && block.Layer != root.Layer)
                Add(ref found, ContractRule.MalformedTree, null, null,
                    $"{operation} tree: a {block.Layer} block on the top-level NextBlock chain of a {root.Layer} root", handle: block.NdisOffloadHandle);
            if (_blocksInFlight.Contains(block))
                Add(ref found, ContractRule.BlockStateReused, null, null, $"{operation} passes block {block}, which belongs to a state operation still pending", handle: block.NdisOffloadHandle);

            var role = block.Role;
            ContractCheckerObject? obj = null;
            if (valid && role == OffloadBlockRole.NewOffload) CheckNewOffload(operation, block, ref found);
            else if (valid && role == OffloadBlockRole.Linker) obj = CheckNamedObject(operation, block, ref found);

            blocks.Add(new ContractCheckerTreeBlock(block, parent, role, obj, block.ImReserved, block.SourceHandle));
            if (block.NextBlock is { } next) stack.Push((next, parent));
            if (block.DependentBlockList is { } dependent) stack.Push((dependent, block));
        }
        if (operation == OffloadOperation.Terminate) CheckNoLiveDependents(blocks, ref found);
        return blocks;
    }

    // Spec §2: the host refcounts paths and neighbours and never terminates one with dependents (they go in the same tree or before).
    private void CheckNoLiveDependents(List<ContractCheckerTreeBlock> blocks, ref List<ContractViolation>? found)
    {
        foreach (var b in blocks)
        {
            if (b.Object is not { } parent || parent.Layer == OffloadLayer.Tcp) continue;
            foreach (var child in _byHandle.Values)
            {
                if (child.Parent != parent || child.State is not (ContractCheckerObjectState.Offloading or ContractCheckerObjectState.Offloaded)) continue;
                if (Contains(blocks, child)) continue;
                Add(ref found, ContractRule.StateOperationOnUnavailableObject, parent, null,
                    $"Terminate of a {parent.Layer} object while its dependent {child.Layer} object (handle 0x{child.Handle:x}) is offloaded and not terminated with it");
                break;
            }
        }
    }

    private static bool Contains(List<ContractCheckerTreeBlock> blocks, ContractCheckerObject obj)
    {
        foreach (var b in blocks)
        {
            if (b.Object == obj) return true;
        }
        return false;
    }

    private static bool IsDefinedType(OffloadBlockType type) => (int)type is >= 1 and <= 17 and not 16;

    private void CheckNewOffload(OffloadOperation operation, OffloadBlock block, ref List<ContractViolation>? found)
    {
        ulong handle = block.NdisOffloadHandle;
        if (operation != OffloadOperation.Initiate)
        {
            Add(ref found, ContractRule.MalformedTree, null, null, $"{operation} tree holds a block with an empty context slot (a new offload) outside initiate", handle: handle);
            return;
        }
        if (block.ValidateState() is { } error)
            Add(ref found, ContractRule.MalformedTree, null, null, $"Initiate of a new {block.Layer} object without its state: {error}", handle: handle);
        if (_bySlot.TryGetValue(block.MiniportOffloadContext!, out var slotOwner))
            Add(ref found, ContractRule.BlockStateReused, slotOwner, null, "Initiate reuses the context slot of an object whose terminate has not completed");
        if (_byHandle.TryGetValue(handle, out var handleOwner))
            Add(ref found, ContractRule.BlockStateReused, handleOwner, null, $"Initiate reuses offload handle 0x{handle:x} of an object whose terminate has not completed");
        if (block.Layer == OffloadLayer.Tcp && block.NetBufferListChain is { } chain)
        {
            if (HasCycle(chain))
            {
                Add(ref found, ContractRule.NblStillOwned, null, chain, "Initiate hands over outstanding send data as a chain with a cycle", handle: handle);
                return;
            }
            for (var nbl = chain; nbl is not null; nbl = nbl.Next)
            {
                if (_nbls.TryGetValue(nbl, out var owned)) ReportOwned(ContractCheckerNblKind.Send, nbl, owned, 0, ref found);
            }
        }
    }

    private ContractCheckerObject? CheckNamedObject(OffloadOperation operation, OffloadBlock block, ref List<ContractViolation>? found)
    {
        ulong context = block.MiniportOffloadContext!.Context;
        if (!_byContext.TryGetValue(context, out var obj))
        {
            Add(ref found, ContractRule.StateOperationOnUnavailableObject, null, null,
                $"{operation} names context 0x{context:x}, which is not an offloaded object (never offloaded, initiate not completed, or terminated)",
                context, block.NdisOffloadHandle);
            return null;
        }
        if (obj.Layer != block.Layer)
            Add(ref found, ContractRule.MalformedTree, obj, null, $"{operation} tree: a {block.Layer} block names the {obj.Layer} object 0x{context:x}");
        if (obj.State == ContractCheckerObjectState.Terminating)
        {
            Add(ref found, ContractRule.StateOperationOnUnavailableObject, obj, null, $"{operation} names an object whose terminate was already issued");
            return obj;
        }
        switch (operation)
        {
            case OffloadOperation.Terminate:
                if (obj.PendingStateOperations > 0)
                    Add(ref found, ContractRule.StateOperationOnUnavailableObject, obj, null, "Terminate issued while an update, invalidate or query of the object is pending");
                if (obj.Slot.Context != obj.Context)
                    Add(ref found, ContractRule.BlockStateReused, obj, null, $"The host's context slot of the object now holds 0x{obj.Slot.Context:x}, before its terminate completed");
                break;
            case OffloadOperation.Update:
                if (obj.PendingUpdates > 0)
                    Add(ref found, ContractRule.StateOperationOnUnavailableObject, obj, null, "Update issued while another update of the object is pending");
                if (obj.Invalidated)
                    Add(ref found, ContractRule.StateOperationOnUnavailableObject, obj, null, "Update of an invalidated object");
                break;
        }
        return obj;
    }

    private ContractCheckerTree CommitTree(OffloadOperation operation, OffloadBlock root, List<ContractCheckerTreeBlock> blocks, long request)
    {
        for (int i = 0; i < blocks.Count; i++)
        {
            var b = blocks[i];
            _blocksInFlight.Add(b.Block);
            if (operation == OffloadOperation.Initiate && b.Role == OffloadBlockRole.NewOffload && IsDefinedType(b.Block.Type))
            {
                var obj = new ContractCheckerObject(b.Block) { Parent = ParentObject(blocks, i) };
                blocks[i] = b with { Object = obj };
                // Known by handle at once: the target may indicate on the object as soon as it is installed (spec §2).
                _byHandle.TryAdd(obj.Handle, obj);
                _bySlot.TryAdd(obj.Slot, obj);
                // Outstanding send data handed over (spec §5): the target owns it and completes it like sends.
                if (obj.Layer == OffloadLayer.Tcp && b.Block.NetBufferListChain is { } chain && !HasCycle(chain))
                    Register(ContractCheckerNblKind.Send, obj, chain, request);
                continue;
            }
            if (b.Object is not { } named || named.State == ContractCheckerObjectState.Terminating) continue;
            switch (operation)
            {
                case OffloadOperation.Terminate:
                    named.State = ContractCheckerObjectState.Terminating;
                    break;
                case OffloadOperation.Update:
                    named.PendingUpdates++;
                    named.PendingStateOperations++;
                    break;
                case OffloadOperation.Invalidate:
                case OffloadOperation.Query:
                    named.PendingStateOperations++;
                    break;
            }
        }
        var tree = new ContractCheckerTree(operation, root, blocks);
        _trees[root] = tree;
        _recentCompleted.Remove(root);
        return tree;
    }

    private static ContractCheckerObject? ParentObject(List<ContractCheckerTreeBlock> blocks, int index)
    {
        var parent = blocks[index].Parent;
        if (parent is null) return null;
        for (int i = index - 1; i >= 0; i--)
        {
            if (ReferenceEquals(blocks[i].Block, parent)) return blocks[i].Object;
        }
        return null;
    }

    // The target refused the tree (returned something other than PENDING, or threw): undo what the issue recorded.
    private void Abandon(ContractCheckerTree tree)
    {
        if (!_trees.Remove(tree.Root)) return;
        foreach (var b in tree.Blocks)
        {
            _blocksInFlight.Remove(b.Block);
            if (b.Object is not { } obj) continue;
            if (tree.Operation == OffloadOperation.Initiate && b.Role == OffloadBlockRole.NewOffload)
                Forget(obj, b.Block);
            else if (tree.Operation == OffloadOperation.Terminate && obj.State == ContractCheckerObjectState.Terminating)
                obj.State = ContractCheckerObjectState.Offloaded;
            else if (tree.Operation == OffloadOperation.Update)
            {
                obj.PendingUpdates--;
                obj.PendingStateOperations--;
            }
            else if (tree.Operation is OffloadOperation.Invalidate or OffloadOperation.Query)
                obj.PendingStateOperations--;
        }
    }

    // An object that failed to offload or whose offload was refused: drop it and the send data it was handed.
    private void Forget(ContractCheckerObject obj, OffloadBlock block)
    {
        obj.State = ContractCheckerObjectState.Terminated;
        if (_byHandle.TryGetValue(obj.Handle, out var byHandle) && byHandle == obj) _byHandle.Remove(obj.Handle);
        if (_bySlot.TryGetValue(obj.Slot, out var bySlot) && bySlot == obj) _bySlot.Remove(obj.Slot);
        if (obj.Context != 0 && _byContext.TryGetValue(obj.Context, out var byContext) && byContext == obj) _byContext.Remove(obj.Context);
        if (obj.Layer != OffloadLayer.Tcp || block.NetBufferListChain is not { } chain || HasCycle(chain)) return;
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            if (_nbls.TryGetValue(nbl, out var entry) && entry.Object == obj && entry.Kind == ContractCheckerNblKind.Send)
            {
                _nbls.Remove(nbl);
                Released(entry);
            }
        }
    }
}
