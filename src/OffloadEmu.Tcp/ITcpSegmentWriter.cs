namespace OffloadEmu.Tcp;

/// <summary>Where <see cref="TcpMachine.Dispatch"/> writes the segments it wants sent: TCP header and payload with the
/// checksum filled (the caller adds IP and link headers).</summary>
public interface ITcpSegmentWriter
{
    /// <summary>A buffer of at least <paramref name="length"/> bytes for the next TCP segment, or an empty or shorter
    /// span when no buffer is available (the machine then stops and retries at its next dispatch).</summary>
    Span<byte> GetBuffer(int length);

    /// <summary>The segment of <paramref name="length"/> bytes at the start of the last buffer is complete.</summary>
    void Commit(int length);
}
