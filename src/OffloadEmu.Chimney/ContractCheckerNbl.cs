namespace OffloadEmu.Chimney;

/// <summary>What a <see cref="ContractChecker"/> knows about one tracked NBL; a struct so tracking allocates nothing once warm.</summary>
/// <remarks>Chimney spec §0: one owner per NBL at a time.</remarks>
internal struct ContractCheckerNbl
{
    /// <summary>Why it is tracked.</summary>
    public ContractCheckerNblKind Kind;

    /// <summary>Its connection, or null for a request on an unknown context.</summary>
    public ContractCheckerObject? Object;

    /// <summary>Checker-wide unique stamp of this registration (validates queue entries, orders posts).</summary>
    public long Seq;

    /// <summary>The request's stamp (one per call).</summary>
    public long Request;

    /// <summary>Bytes the request carried (send, disconnect) or could take (receive post); indicated length.</summary>
    public long Length;

    /// <summary>Receive posts: the sum of the NBs' data offsets at post time (spec §3: completion advances them by the bytes placed).</summary>
    public long DataStart;

    /// <summary>Receive posts: the post's ordinal among those able to take data (0 for a zero-byte post).</summary>
    public long CapacityOrdinal;

    /// <summary>Indicated NBLs: the host has not answered yet.</summary>
    public bool AnswerPending;

    /// <summary>Indicated NBLs: returned by the host before its answer reached the checker.</summary>
    public bool ReturnedEarly;
}
