namespace OffloadEmu.Chimney.State;

/// <summary>The constant variables of an offloaded IP path (PATH_OFFLOAD_STATE_CONST).</summary>
/// <remarks>
/// Chimney spec §2: source and destination IP address, both of the same family. In NDIS the family comes from the
/// block type (Ip4/Ip6); here it is carried by the addresses and checked by <see cref="Validate"/>.
/// </remarks>
public readonly record struct PathConstState
{
    /// <summary>Local IP address of the path.</summary>
    public IpAddressValue SourceAddress { get; init; }

    /// <summary>Remote IP address of the path.</summary>
    public IpAddressValue DestinationAddress { get; init; }

    /// <summary>True when the path is IPv6 (taken from <see cref="SourceAddress"/>).</summary>
    public bool IsIpv6 => SourceAddress.IsIpv6;

    /// <summary>Checks that both addresses are of one family; returns an error message, or null when valid.</summary>
    public string? Validate()
        => SourceAddress.IsIpv6 == DestinationAddress.IsIpv6
            ? null
            : $"{nameof(SourceAddress)} ({SourceAddress}) and {nameof(DestinationAddress)} ({DestinationAddress}) are of different IP versions.";
}
