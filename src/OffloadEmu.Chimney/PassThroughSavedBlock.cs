namespace OffloadEmu.Chimney;

/// <summary>What a pass-through layer overwrote in one block of a tree it re-issued, restored on completion.</summary>
/// <remarks>
/// Chimney spec §1: the intermediate driver saves <see cref="OffloadBlock.ImReserved"/> and
/// <see cref="OffloadBlock.SourceHandle"/>, and replaces the upper handle with its own; all three are put back before
/// the tree completes upward. <see cref="Entry"/> is the block's offload entry (null for placeholders and unknown
/// objects); <see cref="Role"/> is the role the block had when it went down.
/// </remarks>
internal readonly record struct PassThroughSavedBlock(
    OffloadBlock Block,
    object? ImReserved,
    ulong SourceHandle,
    ulong NdisOffloadHandle,
    OffloadBlockRole Role,
    PassThroughObjectEntry? Entry);
