namespace OffloadEmu.Chimney;

/// <summary>Why a target asks for a connection's upload (TCP_UPLOAD_REASON, the info value of a Retrieve event).</summary>
/// <remarks>
/// Chimney spec §1 (values) and §6.3: HardwareFailure, InvalidState, ReceivedUrgentData, TimeoutExpiration and
/// UploadRequested are mandatory (the host uploads, the target stops); the others are optional hints the host may
/// decline (see <see cref="TcpUploadReasonExtensions.IsMandatory"/>).
/// </remarks>
public enum TcpUploadReason
{
    /// <summary>The connection carries too little traffic to be worth offloading (optional).</summary>
    LowActivity = 1,

    /// <summary>Too many segments are dropped (optional).</summary>
    HighDropRate = 2,

    /// <summary>The application does small I/O (optional).</summary>
    SmallIO = 3,

    /// <summary>The application does not post receive buffers (optional).</summary>
    NoBufferPreposting = 4,

    /// <summary>Urgent data arrived; the target stops ACKing and passes it up after upload (mandatory).</summary>
    ReceivedUrgentData = 5,

    /// <summary>Too many IP fragments arrive for the connection (optional).</summary>
    HighFragmentation = 6,

    /// <summary>Too many segments arrive out of order (optional).</summary>
    HighOutOfOrderPackets = 7,

    /// <summary>A retransmit, persist, keepalive or FIN_WAIT_2 limit expired (mandatory).</summary>
    TimeoutExpiration = 8,

    /// <summary>A path or neighbour the connection depends on was invalidated (mandatory).</summary>
    InvalidState = 9,

    /// <summary>The target lost resources or met something it hands to the host, e.g. SYN at RcvNxt (mandatory).</summary>
    UploadRequested = 10,

    /// <summary>The hardware state is corrupt (mandatory).</summary>
    HardwareFailure = 11,
}
