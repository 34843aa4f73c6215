using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>A validated ICMPv6 echo request/reply, packet-too-big, neighbor solicitation or neighbor advertisement.</summary>
/// <remarks>RFC 4443 §3.2 and §4; RFC 4861 §4.3, §4.4, §4.6.1 and the validity checks of §7.1.1/§7.1.2
/// that do not need the IP header (code 0, target not multicast, options well-formed). The IP-level
/// check (hop limit 255) belongs to the caller, which has the IPv6 header. As with
/// <see cref="Icmpv4Repr"/>, echo data and the packet-too-big quote are counted by <see cref="DataLength"/>
/// but not held.</remarks>
public readonly struct Icmpv6Repr : IEquatable<Icmpv6Repr>
{
    private Icmpv6Repr(Icmpv6Type type, byte code, ushort identifier, ushort sequenceNumber, uint mtu,
        NeighborAdvertisementFlags flags, Ipv6Address targetAddress, MacAddress? linkLayerAddress, int dataLength)
    {
        if ((uint)dataLength > ushort.MaxValue) ThrowHelper.OutOfRange(nameof(dataLength));
        Type = type;
        Code = code;
        Identifier = identifier;
        SequenceNumber = sequenceNumber;
        Mtu = mtu;
        Flags = flags;
        TargetAddress = targetAddress;
        LinkLayerAddress = linkLayerAddress;
        DataLength = dataLength;
    }

    /// <summary>An echo request.</summary>
    public static Icmpv6Repr EchoRequest(ushort identifier, ushort sequenceNumber, int dataLength)
        => new(Icmpv6Type.EchoRequest, 0, identifier, sequenceNumber, 0, 0, default, null, dataLength);

    /// <summary>An echo reply.</summary>
    public static Icmpv6Repr EchoReply(ushort identifier, ushort sequenceNumber, int dataLength)
        => new(Icmpv6Type.EchoReply, 0, identifier, sequenceNumber, 0, 0, default, null, dataLength);

    /// <summary>A packet-too-big message quoting <paramref name="quotedLength"/> bytes of the invoking packet.</summary>
    public static Icmpv6Repr PacketTooBig(uint mtu, int quotedLength)
        => new(Icmpv6Type.PacketTooBig, 0, 0, 0, mtu, 0, default, null, quotedLength);

    /// <summary>A neighbor solicitation, with the source link-layer address option when <paramref name="sourceLinkLayerAddress"/> is given.</summary>
    public static Icmpv6Repr NeighborSolicitation(Ipv6Address targetAddress, MacAddress? sourceLinkLayerAddress)
        => new(Icmpv6Type.NeighborSolicitation, 0, 0, 0, 0, 0, targetAddress, sourceLinkLayerAddress, 0);

    /// <summary>A neighbor advertisement, with the target link-layer address option when <paramref name="targetLinkLayerAddress"/> is given.</summary>
    public static Icmpv6Repr NeighborAdvertisement(NeighborAdvertisementFlags flags, Ipv6Address targetAddress, MacAddress? targetLinkLayerAddress)
        => new(Icmpv6Type.NeighborAdvertisement, 0, 0, 0, 0, flags & (NeighborAdvertisementFlags)0xE0, targetAddress, targetLinkLayerAddress, 0);

    /// <summary>Message type.</summary>
    public Icmpv6Type Type { get; }
    /// <summary>Message code (0 for every supported type).</summary>
    public byte Code { get; }
    /// <summary>Echo identifier.</summary>
    public ushort Identifier { get; }
    /// <summary>Echo sequence number.</summary>
    public ushort SequenceNumber { get; }
    /// <summary>MTU of packet-too-big.</summary>
    public uint Mtu { get; }
    /// <summary>R/S/O flags of a neighbor advertisement.</summary>
    public NeighborAdvertisementFlags Flags { get; }
    /// <summary>Target address of a neighbor message.</summary>
    public Ipv6Address TargetAddress { get; }
    /// <summary>Source link-layer address (solicitation) or target link-layer address (advertisement), if the option is present.</summary>
    public MacAddress? LinkLayerAddress { get; }
    /// <summary>Echo data or quoted bytes after the 8-byte header (0 for neighbor messages).</summary>
    public int DataLength { get; }

    /// <summary>True for neighbor solicitation and advertisement.</summary>
    public bool IsNeighborMessage => Type is Icmpv6Type.NeighborSolicitation or Icmpv6Type.NeighborAdvertisement;

    /// <summary>Bytes <see cref="Emit(Span{byte}, Ipv6Address, Ipv6Address)"/> covers: 8 + data, or 24 (+8 with a link-layer option).</summary>
    public int BufferLength => IsNeighborMessage
        ? Icmpv6Packet.NeighborMessageLength + (LinkLayerAddress.HasValue ? 8 : 0)
        : Icmpv6Packet.HeaderLength + DataLength;

    /// <summary>Parses a validated view, verifying the checksum with the pseudo-header of <paramref name="source"/>
    /// and <paramref name="destination"/>. Other types are <see cref="WireError.Unsupported"/>.</summary>
    public static bool TryParse(in Icmpv6Packet packet, Ipv6Address source, Ipv6Address destination, out Icmpv6Repr repr, out WireError error)
    {
        repr = default;
        if (!packet.VerifyChecksum(source, destination)) { error = WireError.BadChecksum; return false; }
        if (packet.Code != 0) { error = WireError.Unsupported; return false; }
        int dataLength = packet.Buffer.Length - Icmpv6Packet.HeaderLength;
        switch (packet.MessageType)
        {
            case Icmpv6Type.EchoRequest:
                repr = EchoRequest(packet.EchoIdentifier, packet.EchoSequence, dataLength);
                break;
            case Icmpv6Type.EchoReply:
                repr = EchoReply(packet.EchoIdentifier, packet.EchoSequence, dataLength);
                break;
            case Icmpv6Type.PacketTooBig:
                repr = PacketTooBig(packet.Mtu, dataLength);
                break;
            case Icmpv6Type.NeighborSolicitation:
            case Icmpv6Type.NeighborAdvertisement:
            {
                var target = packet.TargetAddress;
                if (target.IsMulticast) { error = WireError.Unsupported; return false; }
                bool solicitation = packet.MessageType == Icmpv6Type.NeighborSolicitation;
                var optionType = solicitation ? NdpOptionType.SourceLinkLayerAddress : NdpOptionType.TargetLinkLayerAddress;
                bool found = packet.TryGetLinkLayerAddress(optionType, out var mac, out error);
                if (error != WireError.None) return false;
                MacAddress? linkLayer = found ? mac : null;
                repr = solicitation
                    ? NeighborSolicitation(target, linkLayer)
                    : NeighborAdvertisement(packet.NeighborFlags, target, linkLayer);
                break;
            }
            default:
                error = WireError.Unsupported;
                return false;
        }
        error = WireError.None;
        return true;
    }

    /// <summary>Parses without reporting the error.</summary>
    public static bool TryParse(in Icmpv6Packet packet, Ipv6Address source, Ipv6Address destination, out Icmpv6Repr repr)
        => TryParse(packet, source, destination, out repr, out _);

    /// <summary>Writes the message into the first <see cref="BufferLength"/> bytes of <paramref name="buffer"/> and its
    /// checksum with the pseudo-header. For echo and packet-too-big the caller has already placed the data after the header.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="BufferLength"/>.</exception>
    public void Emit(Span<byte> buffer, Ipv6Address source, Ipv6Address destination)
    {
        int length = BufferLength;
        if (buffer.Length < length) ThrowHelper.BufferTooSmall(length, buffer.Length);
        var message = buffer[..length];
        message[0] = (byte)Type;
        message[1] = Code;
        message[2] = 0;
        message[3] = 0;
        switch (Type)
        {
            case Icmpv6Type.EchoRequest:
            case Icmpv6Type.EchoReply:
                BinaryPrimitives.WriteUInt16BigEndian(message[4..], Identifier);
                BinaryPrimitives.WriteUInt16BigEndian(message[6..], SequenceNumber);
                break;
            case Icmpv6Type.PacketTooBig:
                BinaryPrimitives.WriteUInt32BigEndian(message[4..], Mtu);
                break;
            default:
                BinaryPrimitives.WriteUInt32BigEndian(message[4..], (uint)Flags << 24);
                TargetAddress.Write(message[8..]);
                if (LinkLayerAddress is { } mac)
                {
                    message[24] = (byte)(Type == Icmpv6Type.NeighborSolicitation
                        ? NdpOptionType.SourceLinkLayerAddress : NdpOptionType.TargetLinkLayerAddress);
                    message[25] = 1; // in units of 8 octets: type, length and a 6-byte MAC
                    mac.Write(message[26..]);
                }
                break;
        }
        ulong sum = InternetChecksum.PseudoHeader(source, destination, IpProtocol.Icmpv6, length);
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], InternetChecksum.Finish(InternetChecksum.Accumulate(message, sum)));
    }

    /// <summary>Copies <paramref name="data"/> after the 8-byte header, then emits.</summary>
    /// <exception cref="ArgumentException"><paramref name="data"/> is not <see cref="DataLength"/> bytes, the message is a
    /// neighbor message, or the buffer is too small.</exception>
    public void Emit(Span<byte> buffer, Ipv6Address source, Ipv6Address destination, ReadOnlySpan<byte> data)
    {
        if (IsNeighborMessage || data.Length != DataLength) ThrowHelper.OutOfRange(nameof(data));
        if (buffer.Length < BufferLength) ThrowHelper.BufferTooSmall(BufferLength, buffer.Length);
        data.CopyTo(buffer[Icmpv6Packet.HeaderLength..]);
        Emit(buffer, source, destination);
    }

    /// <inheritdoc/>
    public bool Equals(Icmpv6Repr other)
        => Type == other.Type && Code == other.Code && Identifier == other.Identifier && SequenceNumber == other.SequenceNumber
           && Mtu == other.Mtu && Flags == other.Flags && TargetAddress == other.TargetAddress
           && LinkLayerAddress == other.LinkLayerAddress && DataLength == other.DataLength;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Icmpv6Repr r && Equals(r);
    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Type); h.Add(Code); h.Add(Identifier); h.Add(SequenceNumber); h.Add(Mtu); h.Add(Flags);
        h.Add(TargetAddress); h.Add(LinkLayerAddress); h.Add(DataLength);
        return h.ToHashCode();
    }
    /// <summary>Equality.</summary>
    public static bool operator ==(Icmpv6Repr a, Icmpv6Repr b) => a.Equals(b);
    /// <summary>Inequality.</summary>
    public static bool operator !=(Icmpv6Repr a, Icmpv6Repr b) => !a.Equals(b);
}
