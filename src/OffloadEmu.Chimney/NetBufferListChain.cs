namespace OffloadEmu.Chimney;

/// <summary>Allocation-free helpers over a chain of <see cref="NetBufferList"/>s linked through <see cref="NetBufferList.Next"/>.</summary>
/// <remarks>
/// Chimney spec §5: chain order then call order is stream order, so a target keeps a connection's sends as one chain
/// (its retransmit queue) and reads any byte of it by offset from SndUna; §3 and §6.6 hand buffered receive data over
/// as a chain too. A chain is walked to its end: a cycle would never end, as in NDIS.
/// </remarks>
public static class NetBufferListChain
{
    /// <summary>Enumerates the chain from <paramref name="head"/> with a struct enumerator (no allocation in <c>foreach</c>).</summary>
    public static NetBufferListChainEnumerable Enumerate(NetBufferList? head) => new(head);

    /// <summary>Number of lists in the chain (0 for null).</summary>
    public static int Count(NetBufferList? head)
    {
        int n = 0;
        for (var l = head; l is not null; l = l.Next) n++;
        return n;
    }

    /// <summary>The last list of the chain, or null for an empty chain.</summary>
    public static NetBufferList? GetLast(NetBufferList? head)
    {
        if (head is null) return null;
        while (head.Next is not null) head = head.Next;
        return head;
    }

    /// <summary>Bytes of data in the whole chain (sum of every list's <see cref="NetBufferList.DataLength"/>).</summary>
    public static long GetDataLength(NetBufferList? head)
    {
        long total = 0;
        for (var l = head; l is not null; l = l.Next) total += l.DataLength;
        return total;
    }

    /// <summary>
    /// Appends <paramref name="list"/> (with any chain behind it) after <paramref name="tail"/>, updating
    /// <paramref name="head"/> when the chain was empty and <paramref name="tail"/> to the new last list.
    /// </summary>
    public static void Append(ref NetBufferList? head, ref NetBufferList? tail, NetBufferList list)
    {
        ArgumentNullException.ThrowIfNull(list);
        if (head is null) head = list;
        else (tail ?? GetLast(head)!).Next = list;
        tail = GetLast(list);
    }

    /// <summary>
    /// Copies the data of the chain, taken as one stream, from <paramref name="offset"/> into
    /// <paramref name="destination"/>; returns the bytes copied (fewer when the chain ends first).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative.</exception>
    public static int CopyTo(NetBufferList? head, long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        int copied = 0;
        for (var l = head; l is not null && copied < destination.Length; l = l.Next)
        {
            long length = l.DataLength;
            if (offset >= length)
            {
                offset -= length;
                continue;
            }
            copied += l.CopyTo(offset, destination[copied..]);
            offset = 0;
        }
        return copied;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the data of the chain, taken as one stream, from <paramref name="offset"/>;
    /// returns the bytes written (fewer when the chain ends first).
    /// </summary>
    /// <exception cref="InvalidOperationException">A net buffer written to holds read-only segments.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative.</exception>
    public static int CopyFrom(NetBufferList? head, long offset, ReadOnlySpan<byte> source)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        int copied = 0;
        for (var l = head; l is not null && copied < source.Length; l = l.Next)
        {
            long length = l.DataLength;
            if (offset >= length)
            {
                offset -= length;
                continue;
            }
            copied += l.CopyFrom(offset, source[copied..]);
            offset = 0;
        }
        return copied;
    }
}
