namespace OffloadEmu.Chimney;

/// <summary>Frame encapsulations a target supports for offloaded connections (NDIS_ENCAPSULATION_* flags).</summary>
/// <remarks>Chimney spec §6.9: a chimney-capable target reports IEEE 802.3, LLC/SNAP-routed, or both.</remarks>
[Flags]
public enum OffloadEncapsulation : uint
{
    /// <summary>NDIS_ENCAPSULATION_NOT_SUPPORTED.</summary>
    NotSupported = 0,

    /// <summary>NDIS_ENCAPSULATION_NULL.</summary>
    Null = 0x01,

    /// <summary>NDIS_ENCAPSULATION_IEEE_802_3 (Ethernet II framing).</summary>
    Ieee8023 = 0x02,

    /// <summary>NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q (802.1p priority and 802.1Q VLAN tags).</summary>
    Ieee8023PAndQ = 0x04,

    /// <summary>NDIS_ENCAPSULATION_IEEE_802_3_P_AND_Q_IN_OOB (tag values carried out of band per NBL).</summary>
    Ieee8023PAndQInOob = 0x08,

    /// <summary>NDIS_ENCAPSULATION_IEEE_LLC_SNAP_ROUTED (RFC 1483 LLC/SNAP).</summary>
    IeeeLlcSnapRouted = 0x10,
}
