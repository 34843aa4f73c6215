using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli.Drive;

/// <summary>The state a synthetic offload hands to the target exactly as the caller chose it (docs/drive.md, offload).</summary>
internal sealed record class SyntheticSpec(
    Ipv4Address RemoteAddress,
    MacAddress RemoteMac,
    Ipv4Address? LocalAddress,
    uint? PathMtu,
    TcpConstState Const,
    TcpCachedState Cached,
    TcpDelegatedState Delegated)
{
    /// <summary>The offload's <c>indications</c>: "refuse" answers every receive indication OFFLOAD_DATA_NOT_ACCEPTED, so
    /// the target keeps the data (its receive window closes) until a <c>post_receive</c> takes it.</summary>
    public bool RefuseIndications { get; init; }

    /// <summary>The neighbour's 802.1Q VLAN id (<c>vlan</c>, 0..4094, default 0 = untagged, any tag accepted).</summary>
    public ushort VlanId { get; init; }
}
