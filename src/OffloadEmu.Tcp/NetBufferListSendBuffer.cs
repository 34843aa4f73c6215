using OffloadEmu.Chimney;

namespace OffloadEmu.Tcp;

/// <summary>A chimney <see cref="NetBufferList"/> seen as an <see cref="ITcpSendBuffer"/>: the machine reads segment
/// payloads (and retransmissions) straight from the list's net buffers, and the completion hands the same list back.</summary>
/// <remarks>Chimney spec §5 (send: the target keeps the NBL as its retransmit queue until SndUna passes its end). The list's
/// data length is captured at construction: it must not change while queued.</remarks>
public sealed class NetBufferListSendBuffer : ITcpSendBuffer
{
    /// <summary>Wraps <paramref name="list"/>.</summary>
    public NetBufferListSendBuffer(NetBufferList list)
    {
        ArgumentNullException.ThrowIfNull(list);
        List = list;
        long length = list.DataLength;
        if (length > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(list), "A send request must be smaller than 2 GiB.");
        Length = (int)length;
    }

    /// <summary>The wrapped list.</summary>
    public NetBufferList List { get; }

    /// <inheritdoc/>
    public int Length { get; }

    /// <inheritdoc/>
    public void CopyTo(int offset, Span<byte> destination) => List.CopyTo(offset, destination);
}
