using OffloadEmu.Wire;

namespace OffloadEmu.Chimney.State;

/// <summary>The constant variables of an offloaded neighbour (NEIGHBOR_OFFLOAD_STATE_CONST).</summary>
/// <remarks>
/// Chimney spec §2: const state never changes after the offload and is not returned at terminate. The NDIS structure
/// holds a 32-byte link-layer address; OffloadEmu emulates Ethernet only, so the address is a <see cref="MacAddress"/>.
/// Spec §6.5 gives the VLAN rules that <see cref="VlanId"/> drives.
/// </remarks>
public readonly record struct NeighborConstState
{
    private readonly ushort _vlanId;

    /// <summary>Largest VLAN identifier the 12-bit field can carry.</summary>
    public const ushort MaxVlanId = 0xFFF;

    /// <summary>
    /// Source MAC address the target must use for this neighbour. <see cref="MacAddress.Zero"/> means "use the NIC's
    /// own address"; a non-zero address the target cannot use fails the initiate with
    /// <c>OFFLOAD_HW_ADDRESS_ENTRIES</c> (spec §2, §10 row 8).
    /// </summary>
    public MacAddress DlSourceAddress { get; init; }

    /// <summary>
    /// IEEE 802.1Q VLAN identifier, 12 bits (0..4095). 0 = accept any tag on receive and send untagged unless a user
    /// priority is set (spec §6.5).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds 12 bits.</exception>
    public ushort VlanId
    {
        get => _vlanId;
        init => _vlanId = value <= MaxVlanId
            ? value
            : throw new ArgumentOutOfRangeException(nameof(VlanId), value, $"{nameof(VlanId)} is a 12-bit field (0..{MaxVlanId}).");
    }
}
