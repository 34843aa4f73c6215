namespace OffloadEmu.Chimney;

/// <summary>One block of a state tree a <see cref="ContractChecker"/> forwarded, with what it looked like going down.</summary>
/// <remarks>Chimney spec §1, §2: the target must not touch ImReserved and SourceHandle and writes the slot only on success.</remarks>
internal readonly record struct ContractCheckerTreeBlock(
    OffloadBlock Block,
    OffloadBlock? Parent,
    OffloadBlockRole Role,
    ContractCheckerObject? Object,
    object? ImReserved,
    ulong SourceHandle);
