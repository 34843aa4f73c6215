using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class ReceiveCompleteMessage : ControlMessage
{
    public override MessageType Type => MessageType.TcpReceiveComplete;

    /// <summary>Encoding side: the server's completed posts (bytes written from them directly).</summary>
    public IReadOnlyList<(ulong Context, NetBufferList Nbl)>? Source { get; init; }

    /// <summary>Decoding side.</summary>
    public List<ReceiveCompletion> Entries { get; init; } = [];

    public override void WritePayload(ref MessageWriter w)
    {
        if (Source is { } source)
        {
            w.U32((uint)source.Count);
            foreach (var (context, nbl) in source)
            {
                w.U64(context);
                w.U64(nbl.RequestId);
                w.U32((uint)nbl.Status);
                int filled = Math.Max(0, Math.Min(nbl.TcpOffloadBytesTransferred, PlacedBytes(nbl)));
                w.U32((uint)filled);
                // The bytes placed: the server's post NBs are one segment each, their window starting at offset 0, and the
                // target advanced each start past what it placed (spec §3), so an NB's bytes are those before its start.
                for (int i = 0, left = filled; i < nbl.BufferCount && left > 0; i++)
                {
                    var nb = nbl[i];
                    int n = Math.Min(nb.DataOffset, left);
                    if (n == 0) continue;
                    w.Raw(nb.GetSegment(0).Span[..n]);
                    left -= n;
                }
            }
            return;
        }
        w.U32((uint)Entries.Count);
        foreach (var e in Entries)
        {
            w.U64(e.Context);
            w.U64(e.Id);
            w.U32((uint)e.Status);
            w.Blob(e.Data.Span);
        }
    }

    // Bytes before the data starts of a server post (its NBs were made with their windows at offset 0).
    private static int PlacedBytes(NetBufferList nbl)
    {
        int total = 0;
        for (int i = 0; i < nbl.BufferCount; i++) total += nbl[i].DataOffset;
        return total;
    }

    public static ReceiveCompleteMessage Read(ref MessageReader r)
    {
        int n = r.Count(ControlProtocol.MaxChainLength, 24);
        var m = new ReceiveCompleteMessage();
        try
        {
            for (int i = 0; i < n; i++)
            {
                ulong context = r.U64(), id = r.U64();
                var status = WireCodec.Status(ref r);
                m.Entries.Add(new ReceiveCompletion { Context = context, Id = id, Status = status, Data = r.Pooled(ControlProtocol.DefaultMaxMessageSize) });
            }
        }
        catch
        {
            m.Release();
            throw;
        }
        return m;
    }

    public override void Release()
    {
        foreach (var e in Entries) e.Data.Release();
    }
}
