using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>The fields of the fixed IPv6 header.</summary>
/// <remarks>RFC 8200 §3. Extension headers are not part of the repr: <see cref="NextHeader"/> and
/// <see cref="PayloadLength"/> are those of the fixed header, so a caller that emits extension
/// headers (<see cref="Ipv6FragmentHeader"/>, <see cref="Ipv6OptionsHeader"/>) after it counts them in
/// <see cref="PayloadLength"/>.</remarks>
public readonly struct Ipv6Repr : IEquatable<Ipv6Repr>
{
    /// <summary>Creates a representation.</summary>
    public Ipv6Repr(Ipv6Address source, Ipv6Address destination, IpProtocol nextHeader, int payloadLength,
        byte hopLimit = 64, byte trafficClass = 0, uint flowLabel = 0)
    {
        if ((uint)payloadLength > ushort.MaxValue) ThrowHelper.OutOfRange(nameof(payloadLength));
        if (flowLabel > 0xF_FFFF) ThrowHelper.OutOfRange(nameof(flowLabel));
        Source = source;
        Destination = destination;
        NextHeader = nextHeader;
        PayloadLength = payloadLength;
        HopLimit = hopLimit;
        TrafficClass = trafficClass;
        FlowLabel = flowLabel;
    }

    /// <summary>Source address.</summary>
    public Ipv6Address Source { get; }
    /// <summary>Destination address.</summary>
    public Ipv6Address Destination { get; }
    /// <summary>Next Header of the fixed header.</summary>
    public IpProtocol NextHeader { get; }
    /// <summary>Payload Length (extension headers included).</summary>
    public int PayloadLength { get; }
    /// <summary>Hop limit.</summary>
    public byte HopLimit { get; }
    /// <summary>Traffic class.</summary>
    public byte TrafficClass { get; }
    /// <summary>Flow label (20 bits).</summary>
    public uint FlowLabel { get; }

    /// <summary>Bytes <see cref="Emit"/> writes (40).</summary>
    public int BufferLength => Ipv6Packet.HeaderLength;

    /// <summary>Parses a validated view. IPv6 has no header checksum; the view already validated the rest.</summary>
    public static bool TryParse(in Ipv6Packet packet, out Ipv6Repr repr, out WireError error)
    {
        repr = new Ipv6Repr(packet.Source, packet.Destination, packet.NextHeader, packet.PayloadLength, packet.HopLimit,
            packet.TrafficClass, packet.FlowLabel);
        error = WireError.None;
        return true;
    }

    /// <summary>Parses without reporting the error.</summary>
    public static bool TryParse(in Ipv6Packet packet, out Ipv6Repr repr) => TryParse(packet, out repr, out _);

    /// <summary>Writes the 40-byte fixed header.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than 40 bytes.</exception>
    public void Emit(Span<byte> buffer)
    {
        if (buffer.Length < Ipv6Packet.HeaderLength) ThrowHelper.BufferTooSmall(Ipv6Packet.HeaderLength, buffer.Length);
        BinaryPrimitives.WriteUInt32BigEndian(buffer, (6u << 28) | ((uint)TrafficClass << 20) | FlowLabel);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[4..], (ushort)PayloadLength);
        buffer[6] = (byte)NextHeader;
        buffer[7] = HopLimit;
        Source.Write(buffer[8..]);
        Destination.Write(buffer[24..]);
    }

    /// <inheritdoc/>
    public bool Equals(Ipv6Repr other)
        => Source == other.Source && Destination == other.Destination && NextHeader == other.NextHeader
           && PayloadLength == other.PayloadLength && HopLimit == other.HopLimit && TrafficClass == other.TrafficClass
           && FlowLabel == other.FlowLabel;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Ipv6Repr r && Equals(r);
    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Source, Destination, NextHeader, PayloadLength, HopLimit, TrafficClass, FlowLabel);
    /// <summary>Equality.</summary>
    public static bool operator ==(Ipv6Repr a, Ipv6Repr b) => a.Equals(b);
    /// <summary>Inequality.</summary>
    public static bool operator !=(Ipv6Repr a, Ipv6Repr b) => !a.Equals(b);
}
