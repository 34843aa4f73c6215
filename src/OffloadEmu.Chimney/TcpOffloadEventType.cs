namespace OffloadEmu.Chimney;

/// <summary>The TCP events a target indicates for one connection (NdisTcpOffloadEventHandler's EventType).</summary>
/// <remarks>Chimney spec §1 (values from ndischimney.h), §5 (send backlog), §6.2 (FIN/RST) and §6.3 (retrieve).</remarks>
public enum TcpOffloadEventType
{
    /// <summary>TcpIndicateSendBacklogChange: the preferred send backlog changed; the info value is the new size in bytes.</summary>
    SendBacklogChange = 1,

    /// <summary>TcpIndicateDisconnect: the peer's FIN arrived and all data before it was consumed (receive half closed).</summary>
    Disconnect = 2,

    /// <summary>TcpIndicateRetrieve: the target asks the host to upload the connection; the info value is a <see cref="TcpUploadReason"/>.</summary>
    Retrieve = 3,

    /// <summary>TcpIndicateAbort: an acceptable RST arrived; pending I/O completes with REQUEST_ABORTED.</summary>
    Abort = 4,
}
