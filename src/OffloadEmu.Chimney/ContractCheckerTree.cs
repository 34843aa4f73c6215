namespace OffloadEmu.Chimney;

/// <summary>A state operation a <see cref="ContractChecker"/> forwarded and is waiting to see complete.</summary>
/// <remarks>Chimney spec §1, §2. Not on the hot path: allocated per operation.</remarks>
internal sealed class ContractCheckerTree
{
    public ContractCheckerTree(OffloadOperation operation, OffloadBlock root, List<ContractCheckerTreeBlock> blocks)
    {
        Operation = operation;
        Root = root;
        Blocks = blocks;
    }

    public OffloadOperation Operation { get; }

    public OffloadBlock Root { get; }

    /// <summary>Every block in traversal order.</summary>
    public List<ContractCheckerTreeBlock> Blocks { get; }
}
