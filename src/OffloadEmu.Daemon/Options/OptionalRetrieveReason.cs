namespace OffloadEmu.Daemon.Options;

/// <summary>The upload reasons a target may use at its own discretion (chimney spec §6.3, TCP_UPLOAD_REASON).</summary>
public enum OptionalRetrieveReason
{
    /// <summary>The connection carries little traffic.</summary>
    LowActivity = 1,
    /// <summary>Many segments are dropped.</summary>
    HighDropRate = 2,
    /// <summary>The application sends or posts small buffers.</summary>
    SmallIO = 3,
    /// <summary>The application does not post receive buffers ahead.</summary>
    NoBufferPreposting = 4,
    /// <summary>Many received datagrams are fragmented.</summary>
    HighFragmentation = 6,
    /// <summary>Many segments arrive out of order.</summary>
    HighOutOfOrderPackets = 7,
}
