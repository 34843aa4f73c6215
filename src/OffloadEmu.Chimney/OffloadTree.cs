namespace OffloadEmu.Chimney;

/// <summary>Walks offload state trees in the order the contract mandates and applies the initiate status rules.</summary>
/// <remarks>
/// Chimney spec §2: depth first, then breadth: a block, then (recursively) its dependents, then its NextBlock. For the
/// documented example N1{P1{T1,T2},P2{T3}} the order is N1, P1, T1, T2, P2, T3.
/// </remarks>
public static class OffloadTree
{
    /// <summary>
    /// Visits every block reachable from <paramref name="root"/> (its dependents and its NextBlock chain) depth first,
    /// then breadth.
    /// </summary>
    public static IEnumerable<OffloadBlockVisit> Traverse(OffloadBlock? root)
    {
        if (root is null) yield break;
        // An explicit stack instead of recursion: the next sibling waits below the dependents so they come first.
        var stack = new Stack<OffloadBlockVisit>();
        stack.Push(new OffloadBlockVisit(root, null, 0));
        while (stack.Count > 0)
        {
            var visit = stack.Pop();
            yield return visit;
            var block = visit.Block;
            if (block.NextBlock is { } next) stack.Push(new OffloadBlockVisit(next, visit.Parent, visit.Depth));
            if (block.DependentBlockList is { } dependent) stack.Push(new OffloadBlockVisit(dependent, block, visit.Depth + 1));
        }
    }

    /// <summary>Writes <paramref name="status"/> into every block of the tree (e.g. SUCCESS for a query or FAILURE for a lost object).</summary>
    public static void SetStatus(OffloadBlock? root, NdisStatus status)
    {
        foreach (var visit in Traverse(root)) visit.Block.Status = status;
    }

    /// <summary>
    /// Runs an initiate over the tree: calls <paramref name="offload"/> for every new-offload block whose parent is in
    /// place, in traversal order, and writes every block's status by the spec §2 rules.
    /// </summary>
    /// <param name="root">Top of the tree.</param>
    /// <param name="offload">
    /// Installs one new object (and writes its context slot on success); returns SUCCESS or the failure status
    /// (FAILURE, RESOURCES or an OFFLOAD_*_ENTRIES-style code). Never called for placeholders, linkers or blocks below
    /// a failed object.
    /// </param>
    /// <remarks>
    /// <para>
    /// Rules (spec §2): placeholder → SUCCESS; new offload → the callback's status, and when that is SUCCESS it becomes
    /// OFFLOAD_PARTIAL_SUCCESS if some immediate dependent (its dependent list and that list's NextBlock chain) was not
    /// offloaded; linker → SUCCESS / OFFLOAD_PARTIAL_SUCCESS / FAILURE for all / some / none of its immediate dependents
    /// offloaded (SUCCESS when it has none); below a failed object every block is FAILURE without being tried
    /// (placeholders keep SUCCESS). A dependent counts as offloaded when its status is SUCCESS or
    /// OFFLOAD_PARTIAL_SUCCESS.
    /// </para>
    /// <para>
    /// [EMU] Blocks on the top level's NextBlock chain are independent trees: the failure of one top-level object
    /// fails its own subtree, not its siblings.
    /// </para>
    /// </remarks>
    /// <exception cref="InvalidOperationException">The callback returned PENDING or OFFLOAD_PARTIAL_SUCCESS, which are not per-object outcomes.</exception>
    public static void ApplyInitiate(OffloadBlock? root, Func<OffloadBlock, NdisStatus> offload)
    {
        ArgumentNullException.ThrowIfNull(offload);
        ProcessChain(root, parentInPlace: true, offload);
    }

    /// <summary>True when <paramref name="status"/> means the object is in place (SUCCESS or OFFLOAD_PARTIAL_SUCCESS).</summary>
    public static bool IsOffloaded(NdisStatus status) => status is NdisStatus.Success or NdisStatus.OffloadPartialSuccess;

    // Processes a NextBlock chain; returns (blocks, offloaded blocks) for the parent's status.
    private static (int Count, int Offloaded) ProcessChain(OffloadBlock? first, bool parentInPlace, Func<OffloadBlock, NdisStatus> offload)
    {
        int count = 0, offloaded = 0;
        for (var block = first; block is not null; block = block.NextBlock)
        {
            ProcessBlock(block, parentInPlace, offload);
            count++;
            if (IsOffloaded(block.Status)) offloaded++;
        }
        return (count, offloaded);
    }

    private static void ProcessBlock(OffloadBlock block, bool parentInPlace, Func<OffloadBlock, NdisStatus> offload)
    {
        var role = block.Role;
        if (role == OffloadBlockRole.Placeholder)
        {
            block.Status = NdisStatus.Success;
            ProcessChain(block.DependentBlockList, parentInPlace, offload);
            return;
        }
        if (!parentInPlace)
        {
            block.Status = NdisStatus.Failure;
            ProcessChain(block.DependentBlockList, parentInPlace: false, offload);
            return;
        }
        if (role == OffloadBlockRole.Linker)
        {
            var (count, done) = ProcessChain(block.DependentBlockList, parentInPlace: true, offload);
            block.Status = done == count ? NdisStatus.Success : done == 0 ? NdisStatus.Failure : NdisStatus.OffloadPartialSuccess;
            return;
        }
        var status = offload(block);
        if (status is NdisStatus.Pending or NdisStatus.OffloadPartialSuccess)
            throw new InvalidOperationException($"The offload callback returned {status}; it must return SUCCESS or a failure status.");
        if (status != NdisStatus.Success)
        {
            block.Status = status;
            ProcessChain(block.DependentBlockList, parentInPlace: false, offload);
            return;
        }
        var (n, ok) = ProcessChain(block.DependentBlockList, parentInPlace: true, offload);
        block.Status = ok == n ? NdisStatus.Success : NdisStatus.OffloadPartialSuccess;
    }
}
