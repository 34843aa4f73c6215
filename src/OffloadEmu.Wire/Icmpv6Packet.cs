using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>A zero-copy view of an ICMPv6 message.</summary>
/// <remarks>RFC 4443 §2.1 (header), §3.2 (packet too big), §4 (echo); RFC 4861 §4.3/§4.4 (neighbor
/// solicitation/advertisement) and §4.6 (options). Create it over the upper-layer payload exactly
/// (<see cref="Ipv6Packet.UpperLayerPayload"/>): the checksum covers the whole buffer plus the IPv6
/// pseudo-header (RFC 8200 §8.1). Creation requires 8 bytes, and 24 for neighbor solicitation and
/// advertisement so that <see cref="TargetAddress"/> is always in bounds.</remarks>
public ref struct Icmpv6Packet
{
    private readonly Span<byte> _buffer;

    /// <summary>Length of the type/code/checksum plus the 32-bit message-specific word.</summary>
    public const int HeaderLength = 8;

    /// <summary>Length of a neighbor solicitation/advertisement before its options.</summary>
    public const int NeighborMessageLength = 24;

    private Icmpv6Packet(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Validates the length of <paramref name="buffer"/> for its message type.</summary>
    public static bool TryCreate(Span<byte> buffer, out Icmpv6Packet packet, out WireError error)
    {
        packet = default;
        if (buffer.Length < HeaderLength) { error = WireError.Truncated; return false; }
        if (IsNeighborMessage((Icmpv6Type)buffer[0]) && buffer.Length < NeighborMessageLength) { error = WireError.Truncated; return false; }
        packet = new Icmpv6Packet(buffer);
        error = WireError.None;
        return true;
    }

    /// <summary>Validates <paramref name="buffer"/> as an ICMPv6 message.</summary>
    public static bool TryCreate(Span<byte> buffer, out Icmpv6Packet packet) => TryCreate(buffer, out packet, out _);

    private static bool IsNeighborMessage(Icmpv6Type type) => type is Icmpv6Type.NeighborSolicitation or Icmpv6Type.NeighborAdvertisement;

    /// <summary>The whole message.</summary>
    public readonly Span<byte> Buffer => _buffer;

    /// <summary>Message type. It cannot be changed to a neighbor message on a buffer too short for one.</summary>
    public Icmpv6Type MessageType
    {
        readonly get => (Icmpv6Type)_buffer[0];
        set
        {
            if (IsNeighborMessage(value) && _buffer.Length < NeighborMessageLength) ThrowHelper.OutOfRange(nameof(value));
            _buffer[0] = (byte)value;
        }
    }

    /// <summary>Message code.</summary>
    public byte Code
    {
        readonly get => _buffer[1];
        set => _buffer[1] = value;
    }

    /// <summary>Checksum field.</summary>
    public ushort Checksum
    {
        readonly get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[2..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[2..], value);
    }

    /// <summary>Echo identifier (bytes 4..6).</summary>
    public ushort EchoIdentifier
    {
        readonly get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[4..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[4..], value);
    }

    /// <summary>Echo sequence number (bytes 6..8).</summary>
    public ushort EchoSequence
    {
        readonly get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[6..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[6..], value);
    }

    /// <summary>MTU of a packet-too-big message (bytes 4..8).</summary>
    public uint Mtu
    {
        readonly get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[4..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[4..], value);
    }

    /// <summary>R/S/O flags of a neighbor advertisement (byte 4; the other reserved bits are ignored).</summary>
    public NeighborAdvertisementFlags NeighborFlags
    {
        readonly get => (NeighborAdvertisementFlags)(_buffer[4] & 0xE0);
        set => _buffer[4] = (byte)((_buffer[4] & 0x1F) | ((byte)value & 0xE0));
    }

    /// <summary>Target address of a neighbor solicitation/advertisement (bytes 8..24). Only valid for those types.</summary>
    public Ipv6Address TargetAddress
    {
        readonly get => IsNeighborMessage(MessageType) ? Ipv6Address.Read(_buffer[8..]) : default;
        set
        {
            if (!IsNeighborMessage(MessageType)) ThrowHelper.OutOfRange(nameof(value));
            value.Write(_buffer[8..]);
        }
    }

    /// <summary>The message body after the 8-byte header (echo data, or the invoking packet of an error message).</summary>
    public readonly Span<byte> Payload => _buffer[HeaderLength..];

    /// <summary>The NDP options of a neighbor message (empty for other types).</summary>
    public readonly Span<byte> NdpOptions => IsNeighborMessage(MessageType) ? _buffer[NeighborMessageLength..] : default;

    /// <summary>Walks <see cref="NdpOptions"/> and returns the first Ethernet link-layer address option of <paramref name="type"/>.</summary>
    /// <returns>False with <see cref="WireError.None"/> when the options are well-formed but carry none;
    /// false with <see cref="WireError.BadOption"/> when an option has length 0 or overruns the message
    /// (RFC 4861 §4.6: such a packet must be discarded), or a link-layer option is shorter than a MAC address.</returns>
    public readonly bool TryGetLinkLayerAddress(NdpOptionType type, out MacAddress address, out WireError error)
    {
        address = default;
        bool found = false;
        var options = NdpOptions;
        while (options.Length > 0)
        {
            if (options.Length < 2 || options[1] == 0 || options[1] * 8 > options.Length) { error = WireError.BadOption; return false; }
            int length = options[1] * 8;
            if (!found && options[0] == (byte)type)
            {
                address = MacAddress.Read(options[2..]);
                found = true;
            }
            options = options[length..];
        }
        error = WireError.None;
        return found;
    }

    /// <summary>True when the checksum, with the IPv6 pseudo-header of <paramref name="source"/> and <paramref name="destination"/>, verifies.</summary>
    public readonly bool VerifyChecksum(Ipv6Address source, Ipv6Address destination)
        => InternetChecksum.IsValid(_buffer, InternetChecksum.PseudoHeader(source, destination, IpProtocol.Icmpv6, _buffer.Length));

    /// <summary>Computes and stores the checksum with the IPv6 pseudo-header.</summary>
    public void FillChecksum(Ipv6Address source, Ipv6Address destination)
    {
        Checksum = 0;
        Checksum = InternetChecksum.Finish(InternetChecksum.Accumulate(_buffer,
            InternetChecksum.PseudoHeader(source, destination, IpProtocol.Icmpv6, _buffer.Length)));
    }
}
