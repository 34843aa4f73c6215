using System.Buffers.Binary;

namespace OffloadEmu.Daemon.Tests;

/// <summary>Frames for tests: ARP requests with a sequence number in the target hardware address.</summary>
internal static class TestFrames
{
    /// <summary>A 60-byte ARP request "who has 198.18.244.2 tell 198.18.244.1" numbered <paramref name="n"/>.</summary>
    internal static byte[] ArpRequest(int n)
    {
        var f = new byte[60];
        f.AsSpan(0, 6).Fill(0xFF);                                   // broadcast
        new byte[] { 0x02, 0, 0, 0, 0, 0x0b }.CopyTo(f, 6);          // the peer end's MAC
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x0806);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(14), 1);      // Ethernet
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), 0x0800); // IPv4
        f[18] = 6; f[19] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(20), 1);      // request
        new byte[] { 0x02, 0, 0, 0, 0, 0x0b }.CopyTo(f, 22);
        new byte[] { 198, 18, 244, 1 }.CopyTo(f, 28);
        BinaryPrimitives.WriteInt32BigEndian(f.AsSpan(34), n);       // target MAC is ignored in a request: carry the number
        new byte[] { 198, 18, 244, 2 }.CopyTo(f, 38);
        return f;
    }
}
