namespace OffloadEmu.Chimney.Tests.Fakes;

/// <summary>The fields of one block a test compares across layers, captured at one moment.</summary>
public sealed record BlockView(OffloadBlock Block, ulong Handle, ulong SourceHandle, object? ImReserved, NdisStatus Status, ulong Context)
{
    public static IReadOnlyList<BlockView> Capture(OffloadBlock root)
        => OffloadTree.Traverse(root)
            .Select(v => new BlockView(v.Block, v.Block.NdisOffloadHandle, v.Block.SourceHandle, v.Block.ImReserved, v.Block.Status,
                v.Block.MiniportOffloadContext?.Context ?? 0))
            .ToList();
}
