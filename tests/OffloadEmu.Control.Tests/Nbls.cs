namespace OffloadEmu.Control.Tests;

internal static class Nbls
{
    public static NetBufferList Send(ReadOnlyMemory<byte> data)
    {
        var nbl = new NetBufferList(1, 1);
        nbl.AddBuffer().AddSegment(data);
        return nbl;
    }

    public static NetBufferList Chain(byte[] data, int piece)
    {
        NetBufferList? head = null, tail = null;
        for (int at = 0; at < data.Length; at += piece)
            NetBufferListChain.Append(ref head, ref tail, Send(data.AsMemory(at, Math.Min(piece, data.Length - at))));
        return head!;
    }

    public static NetBufferList Post(int size, bool noPush = false)
    {
        var nbl = new NetBufferList(1, 1) { TcpReceiveNoPush = noPush };
        nbl.AddBuffer().AddWritableSegment(new byte[size]);
        return nbl;
    }

    public static NetBufferList Empty()
    {
        var nbl = new NetBufferList(1, 1);
        nbl.AddBuffer();
        return nbl;
    }

    public static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
