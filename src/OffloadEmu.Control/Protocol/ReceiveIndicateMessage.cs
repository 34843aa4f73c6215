using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

/// <summary>A receive indication: the host's handle and the bytes (the server took them from the target).</summary>
internal sealed class ReceiveIndicateMessage : ControlMessage
{
    public override MessageType Type => MessageType.ReceiveIndicate;
    public ulong Handle { get; init; }
    public PooledBytes? Data { get; init; }
    public NetBufferList? Source { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U64(Handle);
        if (Source is { } nbl)
        {
            w.U32((uint)nbl.DataLength);
            for (int i = 0; i < nbl.BufferCount; i++)
            {
                var nb = nbl[i];
                int skip = nb.DataOffset, left = nb.DataLength;
                for (int s = 0; s < nb.SegmentCount && left > 0; s++)
                {
                    var seg = nb.GetSegment(s).Span;
                    if (skip >= seg.Length) { skip -= seg.Length; continue; }
                    var part = seg[skip..];
                    skip = 0;
                    if (part.Length > left) part = part[..left];
                    w.Raw(part);
                    left -= part.Length;
                }
            }
        }
        else
        {
            w.Blob(Data!.Span);
        }
    }

    public override void Release() => Data?.Release();
}
