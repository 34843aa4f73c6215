namespace OffloadEmu.Chimney;

/// <summary>Life of an offloaded object as a <see cref="ContractChecker"/> sees it.</summary>
/// <remarks>Chimney spec §2, §6.6 (cf. bnxe's OFFLOAD_PENDING → NORMAL → UPLOAD_PENDING → UPLOAD_DONE, §8).</remarks>
internal enum ContractCheckerObjectState : byte
{
    /// <summary>Initiate issued, completion not yet returned from the host.</summary>
    Offloading,

    /// <summary>Offloaded.</summary>
    Offloaded,

    /// <summary>Terminate issued.</summary>
    Terminating,

    /// <summary>Terminate completed (or initiate failed): forgotten by the checker's maps.</summary>
    Terminated,
}
