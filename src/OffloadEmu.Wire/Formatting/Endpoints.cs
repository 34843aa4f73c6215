namespace OffloadEmu.Wire.Formatting;

/// <summary>Source and destination addresses of an IPv4 or IPv6 packet, for formatting and conversation keys.</summary>
internal readonly struct Endpoints
{
    public Endpoints(Ipv4Address source, Ipv4Address destination)
    {
        IsIpv6 = false;
        SrcHigh = 0; SrcLow = source.Value; DstHigh = 0; DstLow = destination.Value;
        Source = source.ToString(); Destination = destination.ToString();
    }

    public Endpoints(Ipv6Address source, Ipv6Address destination)
    {
        IsIpv6 = true;
        SrcHigh = source.High; SrcLow = source.Low; DstHigh = destination.High; DstLow = destination.Low;
        Source = source.ToString(); Destination = destination.ToString();
    }

    public bool IsIpv6 { get; }
    public ulong SrcHigh { get; }
    public ulong SrcLow { get; }
    public ulong DstHigh { get; }
    public ulong DstLow { get; }
    public string Source { get; }
    public string Destination { get; }

    /// <summary>Compares the source address with the destination address as unsigned big-endian bytes.</summary>
    public int CompareSourceToDestination()
    {
        int c = SrcHigh.CompareTo(DstHigh);
        return c != 0 ? c : SrcLow.CompareTo(DstLow);
    }
}
