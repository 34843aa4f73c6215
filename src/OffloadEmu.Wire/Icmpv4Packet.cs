using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>A zero-copy view of an ICMPv4 message: the 8-byte header (type, code, checksum, rest of header) and its data.</summary>
/// <remarks>RFC 792. Create it over the IPv4 payload exactly (<see cref="Ipv4Packet.Payload"/>): the
/// checksum covers the whole buffer. The rest-of-header word is read per type: echo identifier and
/// sequence (RFC 792 "Echo"), or the next-hop MTU of fragmentation-needed (RFC 1191 §4).</remarks>
public ref struct Icmpv4Packet
{
    private readonly Span<byte> _buffer;

    /// <summary>Length of the ICMP header.</summary>
    public const int HeaderLength = 8;

    private Icmpv4Packet(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Validates that <paramref name="buffer"/> holds at least the 8-byte header.</summary>
    public static bool TryCreate(Span<byte> buffer, out Icmpv4Packet packet, out WireError error)
    {
        packet = default;
        if (buffer.Length < HeaderLength) { error = WireError.Truncated; return false; }
        packet = new Icmpv4Packet(buffer);
        error = WireError.None;
        return true;
    }

    /// <summary>Validates <paramref name="buffer"/> as an ICMPv4 message.</summary>
    public static bool TryCreate(Span<byte> buffer, out Icmpv4Packet packet) => TryCreate(buffer, out packet, out _);

    /// <summary>The whole message.</summary>
    public readonly Span<byte> Buffer => _buffer;

    /// <summary>Message type.</summary>
    public Icmpv4Type MessageType
    {
        readonly get => (Icmpv4Type)_buffer[0];
        set => _buffer[0] = (byte)value;
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

    /// <summary>The raw 32-bit rest-of-header word.</summary>
    public uint RestOfHeader
    {
        readonly get => BinaryPrimitives.ReadUInt32BigEndian(_buffer[4..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[4..], value);
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

    /// <summary>Next-hop MTU of a fragmentation-needed message (bytes 6..8; RFC 1191 §4).</summary>
    public ushort NextHopMtu
    {
        readonly get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[6..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[6..], value);
    }

    /// <summary>The data after the header: echo data, or the quoted original datagram of an error message.</summary>
    public readonly Span<byte> Payload => _buffer[HeaderLength..];

    /// <summary>Reads the IPv4 header an error message quotes (RFC 792: "Internet Header + 64 bits of
    /// Original Data Datagram"). The quote is usually cut short, so its Total Length is not checked;
    /// <paramref name="transportPrefix"/> is whatever follows the quoted header (at least the ports of TCP/UDP
    /// when the sender followed RFC 792).</summary>
    /// <returns>False when the quote is shorter than its own IPv4 header or is not IPv4.</returns>
    public readonly bool TryGetQuotedHeader(out Ipv4Address source, out Ipv4Address destination, out IpProtocol protocol,
        out Span<byte> transportPrefix)
    {
        source = default;
        destination = default;
        protocol = default;
        transportPrefix = default;
        var quote = Payload;
        if (quote.Length < Ipv4Packet.MinHeaderLength || quote[0] >> 4 != 4) return false;
        int headerLength = (quote[0] & 0xF) * 4;
        if (headerLength < Ipv4Packet.MinHeaderLength || headerLength > quote.Length) return false;
        source = Ipv4Address.Read(quote[12..]);
        destination = Ipv4Address.Read(quote[16..]);
        protocol = (IpProtocol)quote[9];
        transportPrefix = quote[headerLength..];
        return true;
    }

    /// <summary>True when the checksum over the whole message verifies.</summary>
    public readonly bool VerifyChecksum() => InternetChecksum.IsValid(_buffer);

    /// <summary>Computes and stores the checksum over the whole message.</summary>
    public void FillChecksum()
    {
        Checksum = 0;
        Checksum = InternetChecksum.Compute(_buffer);
    }
}
