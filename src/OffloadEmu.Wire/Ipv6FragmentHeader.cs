using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>The IPv6 fragment extension header as a value.</summary>
/// <remarks>RFC 8200 §4.5.</remarks>
public readonly struct Ipv6FragmentHeader : IEquatable<Ipv6FragmentHeader>
{
    /// <summary>Length on the wire.</summary>
    public const int Length = 8;

    /// <summary>Creates a header.</summary>
    /// <param name="nextHeader">Protocol of the fragmentable part.</param>
    /// <param name="fragmentOffset">Offset in bytes, a multiple of 8 below 65536.</param>
    /// <param name="moreFragments">The M flag.</param>
    /// <param name="identification">The fragment identification.</param>
    public Ipv6FragmentHeader(IpProtocol nextHeader, int fragmentOffset, bool moreFragments, uint identification)
    {
        if ((uint)fragmentOffset > 0xFFF8 || (fragmentOffset & 7) != 0) ThrowHelper.OutOfRange(nameof(fragmentOffset));
        NextHeader = nextHeader;
        FragmentOffset = fragmentOffset;
        MoreFragments = moreFragments;
        Identification = identification;
    }

    /// <summary>Protocol of the fragmentable part.</summary>
    public IpProtocol NextHeader { get; }
    /// <summary>Offset in bytes.</summary>
    public int FragmentOffset { get; }
    /// <summary>The M flag.</summary>
    public bool MoreFragments { get; }
    /// <summary>Identification.</summary>
    public uint Identification { get; }

    /// <summary>Bytes <see cref="Emit"/> writes (8).</summary>
    public int BufferLength => Length;

    /// <summary>Reads the fragment header of a validated packet; false when it has none.</summary>
    public static bool TryParse(in Ipv6Packet packet, out Ipv6FragmentHeader header)
    {
        header = default;
        if (!packet.HasFragmentHeader) return false;
        var nextHeader = (IpProtocol)packet.Buffer[packet.FragmentHeaderOffset];
        header = new Ipv6FragmentHeader(nextHeader, packet.FragmentOffset, packet.MoreFragments, packet.FragmentIdentification);
        return true;
    }

    /// <summary>Writes the 8-byte header.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than 8 bytes.</exception>
    public void Emit(Span<byte> buffer)
    {
        if (buffer.Length < Length) ThrowHelper.BufferTooSmall(Length, buffer.Length);
        buffer[0] = (byte)NextHeader;
        buffer[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[2..], (ushort)(FragmentOffset | (MoreFragments ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(buffer[4..], Identification);
    }

    /// <inheritdoc/>
    public bool Equals(Ipv6FragmentHeader other)
        => NextHeader == other.NextHeader && FragmentOffset == other.FragmentOffset && MoreFragments == other.MoreFragments
           && Identification == other.Identification;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Ipv6FragmentHeader h && Equals(h);
    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(NextHeader, FragmentOffset, MoreFragments, Identification);
    /// <summary>Equality.</summary>
    public static bool operator ==(Ipv6FragmentHeader a, Ipv6FragmentHeader b) => a.Equals(b);
    /// <summary>Inequality.</summary>
    public static bool operator !=(Ipv6FragmentHeader a, Ipv6FragmentHeader b) => !a.Equals(b);
}
