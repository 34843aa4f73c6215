namespace OffloadEmu.Tcp;

/// <summary>One caller-owned send buffer queued on a connection: the shape of a chimney NET_BUFFER_LIST (a chain of
/// byte ranges). The machine keeps a reference, never a copy, and reads from it again for every retransmission.</summary>
/// <remarks>Chimney spec §5 (send) and architecture §4: the target keeps the list as its retransmit queue and completes it
/// when SndUna passes its end. The chimney NBL model implements this interface directly.</remarks>
public interface ITcpSendBuffer
{
    /// <summary>Total bytes of data in the buffer; must not change while queued.</summary>
    int Length { get; }

    /// <summary>Copies <paramref name="destination"/>.Length bytes starting at byte <paramref name="offset"/> of the
    /// buffer into <paramref name="destination"/> (the range is always inside the buffer).</summary>
    void CopyTo(int offset, Span<byte> destination);
}
