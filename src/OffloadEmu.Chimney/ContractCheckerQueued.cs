namespace OffloadEmu.Chimney;

/// <summary>One entry of a connection's send or receive-post FIFO in a <see cref="ContractChecker"/>.</summary>
/// <remarks>Spec §3, §5: completions follow this order. An entry is live while the NBL's tracking has the same <paramref name="Seq"/>.</remarks>
internal readonly record struct ContractCheckerQueued(NetBufferList Nbl, long Seq);
