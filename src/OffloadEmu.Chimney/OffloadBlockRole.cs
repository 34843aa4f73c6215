namespace OffloadEmu.Chimney;

/// <summary>The part a block plays in an initiate tree, read from its context slot.</summary>
/// <remarks>Chimney spec §2, the placeholder / linker / new offload table.</remarks>
public enum OffloadBlockRole
{
    /// <summary>No context slot: the block only holds the tree together; no state follows; its status is always SUCCESS.</summary>
    Placeholder = 0,

    /// <summary>
    /// The slot already holds the target's context: an existing object to hang new dependents on; no state follows;
    /// status SUCCESS / OFFLOAD_PARTIAL_SUCCESS / FAILURE for all / some / none of its dependents offloaded.
    /// </summary>
    Linker = 1,

    /// <summary>The slot is empty: a new object whose state follows; the target writes its context id only on success.</summary>
    NewOffload = 2,
}
