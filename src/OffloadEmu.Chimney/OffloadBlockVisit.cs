namespace OffloadEmu.Chimney;

/// <summary>One step of a tree walk: the block, the block it depends on, and its depth.</summary>
/// <remarks>Chimney spec §2; produced by <see cref="OffloadTree.Traverse"/>.</remarks>
/// <param name="Block">The block visited.</param>
/// <param name="Parent">The block whose dependent list holds <paramref name="Block"/>, or null at the top of the tree.</param>
/// <param name="Depth">0 at the top of the tree, 1 for its dependents, and so on.</param>
public readonly record struct OffloadBlockVisit(OffloadBlock Block, OffloadBlock? Parent, int Depth);
