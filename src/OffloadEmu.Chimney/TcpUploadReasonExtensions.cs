namespace OffloadEmu.Chimney;

/// <summary>Rules on <see cref="TcpUploadReason"/> that the chimney contract fixes.</summary>
/// <remarks>Chimney spec §6.3.</remarks>
public static class TcpUploadReasonExtensions
{
    /// <summary>
    /// True when the host must upload on this reason and the target stops working the connection; false for the
    /// optional reasons, after which the target must keep working if the host declines.
    /// </summary>
    public static bool IsMandatory(this TcpUploadReason reason) => reason is TcpUploadReason.HardwareFailure
        or TcpUploadReason.InvalidState
        or TcpUploadReason.ReceivedUrgentData
        or TcpUploadReason.TimeoutExpiration
        or TcpUploadReason.UploadRequested;
}
