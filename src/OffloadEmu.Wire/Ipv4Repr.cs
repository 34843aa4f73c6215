using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>The validated fields of an IPv4 header.</summary>
/// <remarks>RFC 791 §3.1. Options are reported (<see cref="OptionsLength"/>) but not carried:
/// <see cref="Emit"/> always writes a 20-byte header, so a repr parsed from a packet with options
/// emits the packet without them.</remarks>
public readonly struct Ipv4Repr : IEquatable<Ipv4Repr>
{
    /// <summary>Creates a representation.</summary>
    public Ipv4Repr(Ipv4Address source, Ipv4Address destination, IpProtocol protocol, int payloadLength,
        byte timeToLive = 64, ushort identification = 0, bool dontFragment = false, bool moreFragments = false,
        int fragmentOffset = 0, byte dscp = 0, byte ecn = 0, int optionsLength = 0)
    {
        if ((uint)payloadLength > ushort.MaxValue - Ipv4Packet.MinHeaderLength) ThrowHelper.OutOfRange(nameof(payloadLength));
        if ((uint)fragmentOffset > 0x1FFF * 8 || (fragmentOffset & 7) != 0) ThrowHelper.OutOfRange(nameof(fragmentOffset));
        if (dscp > 0x3F) ThrowHelper.OutOfRange(nameof(dscp));
        if (ecn > 3) ThrowHelper.OutOfRange(nameof(ecn));
        Source = source;
        Destination = destination;
        Protocol = protocol;
        PayloadLength = payloadLength;
        TimeToLive = timeToLive;
        Identification = identification;
        DontFragment = dontFragment;
        MoreFragments = moreFragments;
        FragmentOffset = fragmentOffset;
        Dscp = dscp;
        Ecn = ecn;
        OptionsLength = optionsLength;
    }

    /// <summary>Source address.</summary>
    public Ipv4Address Source { get; }
    /// <summary>Destination address.</summary>
    public Ipv4Address Destination { get; }
    /// <summary>Payload protocol.</summary>
    public IpProtocol Protocol { get; }
    /// <summary>Payload length (Total Length minus header length).</summary>
    public int PayloadLength { get; }
    /// <summary>Time to live.</summary>
    public byte TimeToLive { get; }
    /// <summary>Identification.</summary>
    public ushort Identification { get; }
    /// <summary>DF flag.</summary>
    public bool DontFragment { get; }
    /// <summary>MF flag.</summary>
    public bool MoreFragments { get; }
    /// <summary>Fragment offset in bytes.</summary>
    public int FragmentOffset { get; }
    /// <summary>DSCP (6 bits).</summary>
    public byte Dscp { get; }
    /// <summary>ECN (2 bits).</summary>
    public byte Ecn { get; }
    /// <summary>Length of the options the parsed header carried (0 when none); informational only.</summary>
    public int OptionsLength { get; }

    /// <summary>True when the parsed header carried options.</summary>
    public bool HasOptions => OptionsLength != 0;

    /// <summary>True for any fragment (MF or a non-zero offset).</summary>
    public bool IsFragment => MoreFragments || FragmentOffset != 0;

    /// <summary>Bytes <see cref="Emit"/> writes: always 20.</summary>
    public int BufferLength => Ipv4Packet.MinHeaderLength;

    /// <summary>Parses a validated view, rejecting a bad header checksum.</summary>
    public static bool TryParse(in Ipv4Packet packet, out Ipv4Repr repr, out WireError error)
        => TryParse(packet, verifyChecksum: true, out repr, out error);

    /// <summary>Parses a validated view; <paramref name="verifyChecksum"/> false skips the checksum
    /// (for frames whose checksum a NIC has already verified).</summary>
    public static bool TryParse(in Ipv4Packet packet, bool verifyChecksum, out Ipv4Repr repr, out WireError error)
    {
        repr = default;
        if (verifyChecksum && !packet.VerifyChecksum()) { error = WireError.BadChecksum; return false; }
        repr = new Ipv4Repr(packet.Source, packet.Destination, packet.Protocol, packet.TotalLength - packet.HeaderLength,
            packet.TimeToLive, packet.Identification, packet.DontFragment, packet.MoreFragments, packet.FragmentOffset,
            packet.Dscp, packet.Ecn, packet.OptionsLength);
        error = WireError.None;
        return true;
    }

    /// <summary>Parses without reporting the error.</summary>
    public static bool TryParse(in Ipv4Packet packet, out Ipv4Repr repr) => TryParse(packet, true, out repr, out _);

    /// <summary>Writes a 20-byte header (Total Length = 20 + <see cref="PayloadLength"/>) with its checksum.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than 20 bytes.</exception>
    public void Emit(Span<byte> buffer)
    {
        if (buffer.Length < Ipv4Packet.MinHeaderLength) ThrowHelper.BufferTooSmall(Ipv4Packet.MinHeaderLength, buffer.Length);
        var header = buffer[..Ipv4Packet.MinHeaderLength];
        header[0] = 0x45;
        header[1] = (byte)((Dscp << 2) | Ecn);
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)(Ipv4Packet.MinHeaderLength + PayloadLength));
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], Identification);
        int flags = (DontFragment ? 0x4000 : 0) | (MoreFragments ? 0x2000 : 0) | (FragmentOffset / 8);
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], (ushort)flags);
        header[8] = TimeToLive;
        header[9] = (byte)Protocol;
        header[10] = 0;
        header[11] = 0;
        Source.Write(header[12..]);
        Destination.Write(header[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(header[10..], InternetChecksum.Compute(header));
    }

    /// <inheritdoc/>
    public bool Equals(Ipv4Repr other)
        => Source == other.Source && Destination == other.Destination && Protocol == other.Protocol
           && PayloadLength == other.PayloadLength && TimeToLive == other.TimeToLive && Identification == other.Identification
           && DontFragment == other.DontFragment && MoreFragments == other.MoreFragments && FragmentOffset == other.FragmentOffset
           && Dscp == other.Dscp && Ecn == other.Ecn && OptionsLength == other.OptionsLength;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Ipv4Repr r && Equals(r);
    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Source); h.Add(Destination); h.Add(Protocol); h.Add(PayloadLength); h.Add(TimeToLive); h.Add(Identification);
        h.Add(DontFragment); h.Add(MoreFragments); h.Add(FragmentOffset); h.Add(Dscp); h.Add(Ecn); h.Add(OptionsLength);
        return h.ToHashCode();
    }
    /// <summary>Equality.</summary>
    public static bool operator ==(Ipv4Repr a, Ipv4Repr b) => a.Equals(b);
    /// <summary>Inequality.</summary>
    public static bool operator !=(Ipv4Repr a, Ipv4Repr b) => !a.Equals(b);
}
