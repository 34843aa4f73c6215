namespace OffloadEmu.Daemon.Options;

/// <summary>Frame encapsulations the NIC offloads (the Encapsulation field of NDIS_TCP_CONNECTION_OFFLOAD).</summary>
/// <remarks>Chimney spec §6.9: a target must support IEEE 802.3 and/or LLC-SNAP-routed.</remarks>
[Flags]
public enum OffloadEncapsulation
{
    /// <summary>None: invalid, a target must support at least one.</summary>
    None = 0,
    /// <summary>IEEE 802.3 (Ethernet II framing).</summary>
    Ieee8023 = 1,
    /// <summary>IEEE 802.2 LLC with a SNAP header, routed.</summary>
    LlcSnapRouted = 2,
}
