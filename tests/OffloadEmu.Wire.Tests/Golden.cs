namespace OffloadEmu.Wire.Tests;

/// <summary>Looks golden frames up by name so theories can list them with nameof.</summary>
internal static class Golden
{
    public static byte[] Get(string name)
        => (byte[])typeof(GoldenFrames).GetProperty(name)!.GetValue(null)!;

    public static readonly string[] All =
    [
        nameof(GoldenFrames.ArpRequest), nameof(GoldenFrames.ArpReply), nameof(GoldenFrames.Icmpv4EchoRequest),
        nameof(GoldenFrames.Icmpv4EchoReply), nameof(GoldenFrames.Ipv4RecordRouteRequest), nameof(GoldenFrames.Ipv4RecordRouteReply),
        nameof(GoldenFrames.Ipv4FirstFragment), nameof(GoldenFrames.Ipv4MiddleFragment), nameof(GoldenFrames.Ipv4LastFragment),
        nameof(GoldenFrames.NeighborSolicitation), nameof(GoldenFrames.NeighborAdvertisement), nameof(GoldenFrames.Icmpv6EchoRequest),
        nameof(GoldenFrames.Icmpv6EchoReply), nameof(GoldenFrames.Ipv6FirstFragment), nameof(GoldenFrames.Ipv6LastFragment),
        nameof(GoldenFrames.TcpSyn), nameof(GoldenFrames.FragmentationNeeded), nameof(GoldenFrames.PacketTooBig),
        nameof(GoldenFrames.VlanTaggedEcho),
    ];
}
