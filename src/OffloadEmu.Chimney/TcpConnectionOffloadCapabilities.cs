namespace OffloadEmu.Chimney;

/// <summary>What a target can offload (NDIS_TCP_CONNECTION_OFFLOAD), reported as current and hardware capabilities.</summary>
/// <remarks>
/// Chimney spec §6.9: the host reads these at start and again only after an OFFLOAD_RESUME indication (spec §6.6),
/// the only way a target changes them. The NDIS 2-bit "supported" fields are booleans here.
/// </remarks>
public sealed record class TcpConnectionOffloadCapabilities
{
    private readonly byte _congestionAlgorithm;

    /// <summary>Largest value of the 4-bit CongestionAlgorithm field.</summary>
    public const byte MaxCongestionAlgorithm = 15;

    /// <summary>Supported frame encapsulations; must include <see cref="OffloadEncapsulation.Ieee8023"/> or <see cref="OffloadEncapsulation.IeeeLlcSnapRouted"/>.</summary>
    public OffloadEncapsulation Encapsulation { get; init; } = OffloadEncapsulation.Ieee8023;

    /// <summary>IPv4 connections can be offloaded.</summary>
    public bool SupportIPv4 { get; init; } = true;

    /// <summary>IPv6 connections can be offloaded.</summary>
    public bool SupportIPv6 { get; init; } = true;

    /// <summary>IPv6 connections whose packets carry extension headers can be offloaded.</summary>
    public bool SupportIPv6ExtensionHeaders { get; init; }

    /// <summary>The target implements SACK (RFC 2018); otherwise it ignores the option (spec §6.8).</summary>
    public bool SupportSack { get; init; }

    /// <summary>Reserved 4-bit field (NDIS 6.1); 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds 4 bits.</exception>
    public byte CongestionAlgorithm
    {
        get => _congestionAlgorithm;
        init => _congestionAlgorithm = value <= MaxCongestionAlgorithm
            ? value
            : throw new ArgumentOutOfRangeException(nameof(CongestionAlgorithm), value, $"{nameof(CongestionAlgorithm)} is a 4-bit field (0..{MaxCongestionAlgorithm}).");
    }

    /// <summary>Most TCP connections offloaded at once; one more fails the initiate with OFFLOAD_TCP_ENTRIES (spec §10 row 1).</summary>
    public uint TcpConnectionOffloadCapacity { get; init; }

    /// <summary>Reserved flags; 0.</summary>
    public uint Flags { get; init; }

    /// <summary>Checks the fields; returns one message per problem, each naming the field, or an empty list.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if ((Encapsulation & (OffloadEncapsulation.Ieee8023 | OffloadEncapsulation.IeeeLlcSnapRouted)) == 0)
            errors.Add($"{nameof(Encapsulation)} = {Encapsulation} must include Ieee8023 or IeeeLlcSnapRouted for the host to recognise chimney support.");
        if (!SupportIPv4 && !SupportIPv6)
            errors.Add($"{nameof(SupportIPv4)} and {nameof(SupportIPv6)} are both false: nothing could be offloaded.");
        if (SupportIPv6ExtensionHeaders && !SupportIPv6)
            errors.Add($"{nameof(SupportIPv6ExtensionHeaders)} is set without {nameof(SupportIPv6)}.");
        return errors;
    }
}
