namespace OffloadEmu.Target;

/// <summary>How a terminate hands back the sends that are not yet fully acknowledged (spec §5 "at terminate";
/// <see cref="OffloadTargetOptions.TerminateSends"/>).</summary>
public enum TerminateSendDisposition
{
    /// <summary>Returned in the TCP block's <c>NetBufferListChain</c> / <c>SendDataHead..Tail</c>, in order, the first
    /// advanced past its acknowledged bytes so its data starts at SndUna. No send completion.</summary>
    Return,

    /// <summary>Completed with UPLOAD_IN_PROGRESS before the terminate completes: the first with its acknowledged byte
    /// count (the one partial completion spec §5 allows), the rest with 0; the chain in the block stays empty and the
    /// host resends [SndUna, SndMax) and what follows from its own copies.</summary>
    Complete,
}
