using OffloadEmu.Chimney;

namespace OffloadEmu.Control.Client;

/// <summary>
/// The client's receive side of one offloaded connection (docs/control.md, indications). Touched only on the client's
/// dispatch queue. The host's posts stay here; the bytes the target delivers (as indications the server took) enter
/// <see cref="Held"/> in the target's order and leave it into the host's posts in FIFO order, or as an indication when
/// the host has no post and has not refused.
/// </summary>
internal sealed class RxConnection(ulong context, ulong handle)
{
    public ulong Context { get; } = context;
    public ulong Handle { get; set; } = handle;
    /// <summary>The initiate completed with this connection installed (its handle is known).</summary>
    public bool Offloaded { get; set; }

    public Queue<RxPost> Posts { get; } = new();
    public Queue<HeldChunk> Held { get; } = new();
    public long HeldBytes { get; set; }

    /// <summary>The host refused (or partly took) the last indication and has not posted since (spec §3).</summary>
    public bool Refused { get; set; }

    /// <summary>The target indicated the peer's FIN while bytes were still held here: indicated once they are taken.</summary>
    public bool DisconnectPending { get; set; }

    /// <summary>The peer's FIN was indicated to the host: later posts complete INVALID_STATE (spec §3).</summary>
    public bool DisconnectIndicated { get; set; }

    /// <summary>The connection was reset (Abort event): later posts complete REQUEST_ABORTED.</summary>
    public bool Aborted { get; set; }

    /// <summary>Credited bytes the host took and the server has not been told of.</summary>
    public long Unreported { get; set; }

    public void Append(HeldChunk chunk)
    {
        if (chunk.Remaining == 0)
        {
            chunk.Bytes.Release();
            return;
        }
        Held.Enqueue(chunk);
        HeldBytes += chunk.Remaining;
    }

    /// <summary>Copies held bytes into <paramref name="post"/> at its data start, advancing the start past them as the
    /// target does (spec §3); returns the credited bytes taken.</summary>
    public long FillPost(RxPost post)
    {
        long credited = 0;
        while (post.Room > 0 && Held.TryPeek(out var chunk))
        {
            int n = Math.Min(post.Room, chunk.Remaining);
            post.Nbl.CopyFrom(0, chunk.Bytes.Span.Slice(chunk.Offset, n));
            Advance(post.Nbl, n);
            post.Nbl.TcpOffloadBytesTransferred += n;
            chunk.Offset += n;
            HeldBytes -= n;
            if (chunk.Credited) credited += n;
            if (chunk.Remaining == 0)
            {
                Held.Dequeue();
                chunk.Bytes.Release();
            }
        }
        return credited;
    }

    // Spec §3: each NB's data start moves past the bytes placed in it (NdisAdvanceNetBufferDataStart).
    private static void Advance(NetBufferList nbl, int bytes)
    {
        for (int i = 0; i < nbl.BufferCount && bytes > 0; i++)
        {
            var nb = nbl[i];
            int n = Math.Min(bytes, nb.DataLength);
            nb.Advance(n);
            bytes -= n;
        }
    }

    /// <summary>Drops <paramref name="count"/> bytes from the front (the host took them from an indication).</summary>
    public long Consume(long count)
    {
        long credited = 0;
        while (count > 0 && Held.TryPeek(out var chunk))
        {
            int n = (int)Math.Min(count, chunk.Remaining);
            chunk.Offset += n;
            HeldBytes -= n;
            count -= n;
            if (chunk.Credited) credited += n;
            if (chunk.Remaining == 0)
            {
                Held.Dequeue();
                chunk.Bytes.Release();
            }
        }
        return credited;
    }

    /// <summary>Frees what is held (connection gone).</summary>
    public void Clear()
    {
        while (Held.TryDequeue(out var chunk)) chunk.Bytes.Release();
        HeldBytes = 0;
    }
}
