using System.Buffers.Binary;
using OffloadEmu.Chimney.State;

namespace OffloadEmu.Target;

/// <summary>
/// Which engine loop owns a TCP connection: a symmetric hash of its 4-tuple, the same for both directions, so a frame
/// and the connection it belongs to always meet on one loop whichever side's addresses come first.
/// </summary>
/// <remarks>
/// The hash: fold each IP address into one 32-bit word (an IPv6 address: the XOR of its four big-endian words), then
/// <c>a = fold(source) XOR fold(destination)</c>, <c>p = sourcePort XOR destinationPort</c>, mix <c>a</c> and <c>p</c>
/// with a multiplicative finaliser (murmur3's), and map the 32-bit result onto the loops by multiply-shift
/// (<c>(h × loops) &gt;&gt; 32</c>). XOR makes it symmetric; it is not the Toeplitz hash of RSS (the host's TCP const
/// <c>HashValue</c> is not used: a frame must find its loop before its connection is known). Deterministic across runs.
/// </remarks>
internal static class LoopHash
{
    /// <summary>The loop (0 … <paramref name="loops"/> − 1) of a connection key.</summary>
    public static int LoopOf(in ConnectionKey key, int loops)
    {
        if (loops <= 1) return 0;
        Span<byte> bytes = stackalloc byte[16];
        uint a = Fold(key.Remote, bytes) ^ Fold(key.Local, bytes);
        return Map(Mix(a, (uint)(key.RemotePort ^ key.LocalPort)), loops);
    }

    /// <summary>The loop of an Ethernet frame carrying TCP (IPv4 without fragmentation, or IPv6); -1 for anything else
    /// (those stay on the loop that read them).</summary>
    public static int LoopOfFrame(ReadOnlySpan<byte> frame, int loops)
    {
        if (frame.Length < 14) return -1;
        int offset = 12;
        ushort etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        if (etherType == 0x8100)
        {
            if (frame.Length < 18) return -1;
            offset += 4;
            etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        }
        var ip = frame[(offset + 2)..];
        uint a;
        int l4;
        if (etherType == 0x0800)
        {
            if (ip.Length < 20 || ip[0] >> 4 != 4 || ip[9] != 6) return -1;
            // A fragment (MF set or an offset) has no reliable ports: it stays where it was read (it goes up anyway).
            if ((BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3FFF) != 0) return -1;
            l4 = (ip[0] & 0x0F) * 4;
            a = BinaryPrimitives.ReadUInt32BigEndian(ip[12..]) ^ BinaryPrimitives.ReadUInt32BigEndian(ip[16..]);
        }
        else if (etherType == 0x86DD)
        {
            if (ip.Length < 40 || ip[0] >> 4 != 6 || ip[6] != 6) return -1; // extension headers: stay (they go up or are rare)
            l4 = 40;
            a = 0;
            for (int i = 8; i < 40; i += 4) a ^= BinaryPrimitives.ReadUInt32BigEndian(ip[i..]);
        }
        else
        {
            return -1;
        }
        if (ip.Length < l4 + 4) return -1;
        uint p = (uint)(BinaryPrimitives.ReadUInt16BigEndian(ip[l4..]) ^ BinaryPrimitives.ReadUInt16BigEndian(ip[(l4 + 2)..]));
        return Map(Mix(a, p), loops);
    }

    private static uint Fold(IpAddressValue address, Span<byte> scratch)
    {
        address.Write(scratch);
        uint w = 0;
        for (int i = 0; i < address.Length; i += 4) w ^= BinaryPrimitives.ReadUInt32BigEndian(scratch[i..]);
        return w;
    }

    private static uint Mix(uint addresses, uint ports)
    {
        uint h = addresses * 0x9E3779B1u ^ ports * 0x85EBCA6Bu;
        h ^= h >> 16;
        h *= 0x85EBCA6Bu;
        h ^= h >> 13;
        h *= 0xC2B2AE35u;
        h ^= h >> 16;
        return h;
    }

    private static int Map(uint h, int loops) => (int)(((ulong)h * (uint)loops) >> 32);
}
