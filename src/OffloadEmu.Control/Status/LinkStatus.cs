using OffloadEmu.Wire;

namespace OffloadEmu.Control.Status;

/// <summary>The daemon's link: what it is and its device counters (LinkStatistics).</summary>
public sealed record class LinkStatus
{
    /// <summary>tap, pcap, packet or memory ("" when unknown).</summary>
    public string Kind { get; init; } = "";

    /// <summary>Interface name.</summary>
    public string Interface { get; init; } = "";

    /// <summary>The NIC's MAC address.</summary>
    public MacAddress MacAddress { get; init; }

    /// <summary>IP MTU.</summary>
    public int Mtu { get; init; }

    /// <summary>Frames received.</summary>
    public ulong FramesIn { get; init; }

    /// <summary>Bytes received.</summary>
    public ulong BytesIn { get; init; }

    /// <summary>Frames sent.</summary>
    public ulong FramesOut { get; init; }

    /// <summary>Bytes sent.</summary>
    public ulong BytesOut { get; init; }

    /// <summary>Drops by reason (every reason the device counts, zero ones included).</summary>
    public IReadOnlyList<LinkDropCount> Drops { get; init; } = [];
}
