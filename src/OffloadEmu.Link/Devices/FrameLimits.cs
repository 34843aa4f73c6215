namespace OffloadEmu.Link.Devices;

/// <summary>
/// The frame-size rule every device applies, and the bookkeeping of a frame read from a descriptor:
/// one place, so TAP, AF_PACKET, libpcap and memory devices count drops the same way.
/// </summary>
internal static class FrameLimits
{
    /// <summary>An Ethernet header: the smallest frame a device hands on.</summary>
    public const int MinFrameLength = 14;

    /// <summary>The largest frame for an IP MTU: Ethernet header and one 802.1Q tag on top of it.</summary>
    public static int MaxFrameLength(int mtu) => mtu + 18;

    /// <summary>True when a frame of <paramref name="length"/> bytes may be sent; otherwise counts TooShort or TooLong.</summary>
    public static bool CheckOutgoing(int length, int maxFrame, LinkStatistics statistics)
    {
        if (length < MinFrameLength) { statistics.CountDrop(DropReason.TooShort); return false; }
        if (length > maxFrame) { statistics.CountDrop(DropReason.TooLong); return false; }
        return true;
    }

    /// <summary>
    /// Accepts <paramref name="length"/> bytes just read into <paramref name="frame"/> (length, wall-clock
    /// timestamp, counters), or counts TooShort / TooLong and returns false. A length beyond the buffer is
    /// what a truncating read (MSG_TRUNC) reports for an oversized frame.
    /// </summary>
    public static bool AcceptRead(FrameBuffer frame, nint length, int maxFrame, LinkStatistics statistics)
    {
        if (length < MinFrameLength) { statistics.CountDrop(DropReason.TooShort); return false; }
        if (length > maxFrame || length > frame.Array.Length) { statistics.CountDrop(DropReason.TooLong); return false; }
        frame.Length = (int)length;
        frame.TimestampNs = WallClock.NowNs();
        statistics.CountIn((int)length);
        return true;
    }
}
