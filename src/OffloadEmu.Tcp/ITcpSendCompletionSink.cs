namespace OffloadEmu.Tcp;

/// <summary>Told when the cumulative acknowledgment passes the end of a queued send buffer, in queue order (FIFO).</summary>
/// <remarks>Chimney spec §5: send requests complete in order once all their bytes are acknowledged.</remarks>
public interface ITcpSendCompletionSink
{
    /// <summary>All <paramref name="byteCount"/> bytes of <paramref name="buffer"/> were acknowledged; the machine has
    /// dropped its reference and the owner may reuse the buffer.</summary>
    void OnSendCompleted(ITcpSendBuffer buffer, int byteCount);
}
