namespace OffloadEmu.Link.Native;

/// <summary>
/// Reads struct pcap_pkthdr, whose layout depends on the platform's struct timeval: two 64-bit
/// longs on 64-bit Linux (24-byte header), two 32-bit longs on Windows (16-byte header).
/// </summary>
internal static unsafe class PcapPacketHeader
{
    private static readonly int TimevalSize = OperatingSystem.IsWindows() ? 8 : 2 * sizeof(nint);

    /// <summary>Bytes captured (what the data pointer holds).</summary>
    internal static int CapturedLength(void* header) => (int)*(uint*)((byte*)header + TimevalSize);

    /// <summary>Bytes the frame had on the wire.</summary>
    internal static int WireLength(void* header) => (int)*(uint*)((byte*)header + TimevalSize + 4);

    /// <summary>The capture timestamp in nanoseconds since the Unix epoch (microsecond resolution).</summary>
    internal static long TimestampNs(void* header)
    {
        long sec, usec;
        if (OperatingSystem.IsWindows()) { sec = *(int*)header; usec = *((int*)header + 1); }
        else { sec = *(nint*)header; usec = *((nint*)header + 1); }
        return sec * 1_000_000_000L + usec * 1000L;
    }
}
