namespace OffloadEmu.Chimney;

/// <summary>
/// A pass-through layer's per-operation <i>call entry</i>: which layer and operation issued a tree, and what it
/// overwrote in each block.
/// </summary>
/// <remarks>
/// Chimney spec §1, intermediate drivers: the entry is parked in each block's <see cref="OffloadBlock.ImReserved"/>
/// while the tree is below the layer, so the completion finds it from the root; the block list is captured at issue
/// time because the lower target owns the tree until completion and the layer must restore exactly what it changed.
/// State operations are not on the hot path, so an entry is allocated per operation.
/// </remarks>
internal sealed class PassThroughCallEntry
{
    public PassThroughCallEntry(PassThroughOffloadLayer owner, OffloadOperation operation, OffloadBlock root)
    {
        Owner = owner;
        Operation = operation;
        Root = root;
    }

    public PassThroughOffloadLayer Owner { get; }

    public OffloadOperation Operation { get; }

    public OffloadBlock Root { get; }

    /// <summary>The blocks of the tree in traversal order, with their saved fields.</summary>
    public List<PassThroughSavedBlock> Blocks { get; } = [];

    /// <summary>Set by the first completion; a second one is a contract violation.</summary>
    public bool Completed { get; set; }
}
