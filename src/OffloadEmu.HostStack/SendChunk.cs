using OffloadEmu.Chimney;
using OffloadEmu.Tcp;

namespace OffloadEmu.HostStack;

/// <summary>
/// A piece of application send data copied into a pooled array and wrapped in a send NBL (one NB, one segment). The
/// same object is the host TCP machine's send buffer in host mode and the <c>TcpOffloadSend</c> request when the
/// connection is offloaded, so upload and offload hand the very same buffers across (chimney spec §5).
/// </summary>
internal sealed class SendChunk : ITcpSendBuffer
{
    public SendChunk(int size)
    {
        Array = new byte[size];
        Nbl = new NetBufferList(1, 1) { ProtocolReserved = this };
    }

    public byte[] Array { get; }

    public NetBufferList Nbl { get; }

    public HostConnection? Connection { get; set; }

    /// <summary>The next chunk of the same application write while the write hands them on together.</summary>
    public SendChunk? NextWritten { get; set; }

    /// <summary>Completed (fully acknowledged); released once every chunk before it is.</summary>
    public bool Done { get; set; }

    /// <summary>When the chunk was last handed to <c>TcpOffloadSend</c> (a Stopwatch timestamp; 0 = not by a send request:
    /// written, or handed over at initiate).</summary>
    public long SentAt { get; set; }

    /// <summary>Length handed to the target with the last send request.</summary>
    public int SentLength { get; set; }

    /// <summary>Length as seen by the machine holding it (the NB's data length when it was handed over).</summary>
    public int Length { get; private set; }

    /// <summary>Bytes the application wrote into it (for send-buffer accounting).</summary>
    public int Written { get; private set; }

    public void Fill(ReadOnlySpan<byte> data)
    {
        data.CopyTo(Array);
        Nbl.Reset();
        Nbl.ProtocolReserved = this;
        Nbl.AddBuffer().AddSegment(new ReadOnlyMemory<byte>(Array, 0, data.Length));
        Written = data.Length;
        Done = false;
        SentAt = 0;
        NextWritten = null;
        Length = data.Length;
    }

    /// <summary>Makes <see cref="Length"/> follow the NB's current data window (after a target advanced it).</summary>
    public void SyncLength() => Length = (int)Nbl.DataLength;

    public void CopyTo(int offset, Span<byte> destination) => Nbl.CopyTo(offset, destination);

    /// <summary>Data window of the NB, to undo an advance when an initiate fails.</summary>
    public (int Offset, int Length) Window => (Nbl[0].DataOffset, Nbl[0].DataLength);

    public void SetWindow(int offset, int length)
    {
        Nbl[0].SetData(offset, length);
        Length = length;
    }
}
