namespace OffloadEmu.Target.Tests;

internal static class Nbls
{
    public static NetBufferList Send(byte[] data, ulong id = 0)
    {
        var nbl = new NetBufferList { RequestId = id };
        nbl.AddBuffer().AddSegment(data);
        return nbl;
    }

    public static NetBufferList Post(int size, bool noPush = false, ulong id = 0)
    {
        var nbl = new NetBufferList { RequestId = id, TcpReceiveNoPush = noPush };
        nbl.AddBuffer().AddWritableSegment(new byte[size]);
        return nbl;
    }

    /// <summary>The bytes a completed (one-NB) receive post holds: any pre-filled bytes, then those the target placed,
    /// ending at the data start it advanced past them (spec §3).</summary>
    public static byte[] Received(NetBufferList nbl)
    {
        var bytes = new byte[nbl.TcpReceiveBytesTransferred + nbl.TcpOffloadBytesTransferred];
        nbl[0].CopyBeforeDataStart(bytes);
        return bytes;
    }

    public static NetBufferList Chain(params NetBufferList[] lists)
    {
        for (int i = 0; i + 1 < lists.Length; i++) lists[i].Next = lists[i + 1];
        return lists[0];
    }

    public static byte[] Pattern(int length, int seed = 1)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
