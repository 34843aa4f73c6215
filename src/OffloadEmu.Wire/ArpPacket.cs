using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>A zero-copy view of an ARP packet for IPv4 over Ethernet (hardware type 1, protocol 0x0800, lengths 6 and 4).</summary>
/// <remarks>RFC 826. Only the IPv4-over-Ethernet layout is accepted by <see cref="TryCreate(Span{byte}, out ArpPacket, out WireError)"/>
/// so that the fixed-offset address accessors are always in bounds; other layouts report <see cref="WireError.Unsupported"/>.</remarks>
public ref struct ArpPacket
{
    private readonly Span<byte> _buffer;

    /// <summary>Length of an IPv4-over-Ethernet ARP packet.</summary>
    public const int Length = 28;

    /// <summary>ARP hardware type for Ethernet.</summary>
    public const ushort HardwareTypeEthernet = 1;

    private ArpPacket(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Validates <paramref name="buffer"/> (an Ethernet payload, possibly padded) as an IPv4-over-Ethernet ARP packet.</summary>
    public static bool TryCreate(Span<byte> buffer, out ArpPacket packet, out WireError error)
    {
        packet = default;
        if (buffer.Length < 8) { error = WireError.Truncated; return false; }
        if (buffer[4] != MacAddress.Length || buffer[5] != Ipv4Address.Length) { error = WireError.Unsupported; return false; }
        if (buffer.Length < Length) { error = WireError.Truncated; return false; }
        packet = new ArpPacket(buffer[..Length]);
        error = WireError.None;
        return true;
    }

    /// <summary>Validates <paramref name="buffer"/> as an IPv4-over-Ethernet ARP packet.</summary>
    public static bool TryCreate(Span<byte> buffer, out ArpPacket packet) => TryCreate(buffer, out packet, out _);

    /// <summary>The 28 bytes of the packet (link-layer padding excluded).</summary>
    public readonly Span<byte> Buffer => _buffer;

    /// <summary>Header length (the whole packet: ARP has no payload).</summary>
    public readonly int HeaderLength => Length;

    /// <summary>Hardware type (1 = Ethernet).</summary>
    public ushort HardwareType
    {
        readonly get => BinaryPrimitives.ReadUInt16BigEndian(_buffer);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer, value);
    }

    /// <summary>Protocol type (an EtherType; 0x0800 for IPv4).</summary>
    public EtherType ProtocolType
    {
        readonly get => (EtherType)BinaryPrimitives.ReadUInt16BigEndian(_buffer[2..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[2..], (ushort)value);
    }

    /// <summary>Hardware address length (always 6 in a validated view).</summary>
    public readonly byte HardwareLength => _buffer[4];

    /// <summary>Protocol address length (always 4 in a validated view).</summary>
    public readonly byte ProtocolLength => _buffer[5];

    /// <summary>Operation (unknown codes are returned as their numeric value).</summary>
    public ArpOperation Operation
    {
        readonly get => (ArpOperation)BinaryPrimitives.ReadUInt16BigEndian(_buffer[6..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[6..], (ushort)value);
    }

    /// <summary>Sender hardware address.</summary>
    public MacAddress SenderHardwareAddress
    {
        readonly get => MacAddress.Read(_buffer[8..]);
        set => value.Write(_buffer[8..]);
    }

    /// <summary>Sender protocol address.</summary>
    public Ipv4Address SenderProtocolAddress
    {
        readonly get => Ipv4Address.Read(_buffer[14..]);
        set => value.Write(_buffer[14..]);
    }

    /// <summary>Target hardware address (zero in a request).</summary>
    public MacAddress TargetHardwareAddress
    {
        readonly get => MacAddress.Read(_buffer[18..]);
        set => value.Write(_buffer[18..]);
    }

    /// <summary>Target protocol address.</summary>
    public Ipv4Address TargetProtocolAddress
    {
        readonly get => Ipv4Address.Read(_buffer[24..]);
        set => value.Write(_buffer[24..]);
    }
}
