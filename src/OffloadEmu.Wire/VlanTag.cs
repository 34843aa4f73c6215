namespace OffloadEmu.Wire;

/// <summary>The 16-bit Tag Control Information of an IEEE 802.1Q VLAN tag: PCP, DEI and VID.</summary>
/// <remarks>IEEE 802.1Q-2018 §9.6. The TPID (0x8100) is not part of this value; the frame view owns it.</remarks>
public readonly struct VlanTag : IEquatable<VlanTag>
{
    private readonly ushort _tci;

    /// <summary>Creates a tag from its raw Tag Control Information.</summary>
    public VlanTag(ushort tagControlInformation) => _tci = tagControlInformation;

    /// <summary>Creates a tag from its parts.</summary>
    /// <param name="id">VLAN identifier, 0..4095.</param>
    /// <param name="priority">Priority code point, 0..7.</param>
    /// <param name="dropEligible">Drop eligible indicator.</param>
    /// <exception cref="ArgumentOutOfRangeException">A part does not fit its field.</exception>
    public VlanTag(ushort id, byte priority, bool dropEligible = false)
    {
        if (id > 0xFFF) ThrowHelper.OutOfRange(nameof(id));
        if (priority > 7) ThrowHelper.OutOfRange(nameof(priority));
        _tci = (ushort)((priority << 13) | (dropEligible ? 0x1000 : 0) | id);
    }

    /// <summary>Length of a tag on the wire (TPID + TCI) in octets.</summary>
    public const int Length = 4;

    /// <summary>The raw Tag Control Information.</summary>
    public ushort TagControlInformation => _tci;

    /// <summary>The 12-bit VLAN identifier.</summary>
    public ushort Id => (ushort)(_tci & 0xFFF);

    /// <summary>The 3-bit priority code point.</summary>
    public byte Priority => (byte)(_tci >> 13);

    /// <summary>The drop eligible indicator (formerly CFI).</summary>
    public bool DropEligible => (_tci & 0x1000) != 0;

    /// <inheritdoc/>
    public bool Equals(VlanTag other) => _tci == other._tci;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is VlanTag t && Equals(t);
    /// <inheritdoc/>
    public override int GetHashCode() => _tci;
    /// <inheritdoc/>
    public override string ToString() => $"vlan {Id}, p {Priority}{(DropEligible ? ", DEI" : "")}";
    /// <summary>Equality.</summary>
    public static bool operator ==(VlanTag a, VlanTag b) => a._tci == b._tci;
    /// <summary>Inequality.</summary>
    public static bool operator !=(VlanTag a, VlanTag b) => a._tci != b._tci;
}
