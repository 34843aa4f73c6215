using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>The header fields of an Ethernet II frame, with an optional 802.1Q tag.</summary>
/// <remarks>IEEE 802.3 §3.1; IEEE 802.1Q §9.6.</remarks>
public readonly struct EthernetRepr : IEquatable<EthernetRepr>
{
    /// <summary>Creates a representation.</summary>
    public EthernetRepr(MacAddress source, MacAddress destination, EtherType etherType, VlanTag? vlanTag = null)
    {
        Source = source;
        Destination = destination;
        EtherType = etherType;
        VlanTag = vlanTag;
    }

    /// <summary>Source MAC address.</summary>
    public MacAddress Source { get; }
    /// <summary>Destination MAC address.</summary>
    public MacAddress Destination { get; }
    /// <summary>EtherType of the payload (inside the tag when tagged).</summary>
    public EtherType EtherType { get; }
    /// <summary>The 802.1Q tag, if any.</summary>
    public VlanTag? VlanTag { get; }

    /// <summary>Header length <see cref="Emit"/> writes: 14, or 18 with a tag.</summary>
    public int BufferLength => VlanTag.HasValue ? EthernetFrame.TaggedHeaderLength : EthernetFrame.UntaggedHeaderLength;

    /// <summary>Reads the header of a validated frame. Every Ethernet II header is representable.</summary>
    public static bool TryParse(in EthernetFrame frame, out EthernetRepr repr, out WireError error)
    {
        repr = new EthernetRepr(frame.Source, frame.Destination, frame.EtherType, frame.VlanTag);
        error = WireError.None;
        return true;
    }

    /// <summary>Reads the header of a validated frame.</summary>
    public static bool TryParse(in EthernetFrame frame, out EthernetRepr repr) => TryParse(frame, out repr, out _);

    /// <summary>Writes the header into the start of <paramref name="buffer"/>.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="BufferLength"/>.</exception>
    public void Emit(Span<byte> buffer)
    {
        int length = BufferLength;
        if (buffer.Length < length) ThrowHelper.BufferTooSmall(length, buffer.Length);
        Destination.Write(buffer);
        Source.Write(buffer[6..]);
        if (VlanTag is { } tag)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer[12..], (ushort)EtherType.Vlan);
            BinaryPrimitives.WriteUInt16BigEndian(buffer[14..], tag.TagControlInformation);
            BinaryPrimitives.WriteUInt16BigEndian(buffer[16..], (ushort)EtherType);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer[12..], (ushort)EtherType);
        }
    }

    /// <inheritdoc/>
    public bool Equals(EthernetRepr other)
        => Source == other.Source && Destination == other.Destination && EtherType == other.EtherType && VlanTag == other.VlanTag;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is EthernetRepr r && Equals(r);
    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Source, Destination, EtherType, VlanTag);
    /// <summary>Equality.</summary>
    public static bool operator ==(EthernetRepr a, EthernetRepr b) => a.Equals(b);
    /// <summary>Inequality.</summary>
    public static bool operator !=(EthernetRepr a, EthernetRepr b) => !a.Equals(b);
}
