using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>A zero-copy view of an IPv6 packet, with its extension-header chain walked once at creation.</summary>
/// <remarks>RFC 8200 §3 (header), §4 (extension headers and their order), §4.5 (fragment header);
/// RFC 4302 §2.2 (AH length in 32-bit words). The view is bounded by Payload Length; jumbograms
/// (Payload Length 0 with a jumbo option, RFC 2675) are not supported and read as an empty payload.
/// The walk result (<see cref="UpperLayerProtocol"/>, <see cref="UpperLayerOffset"/>, fragment fields)
/// is captured by <see cref="TryCreate(Span{byte}, out Ipv6Packet, out WireError)"/>; later edits of
/// Next Header fields do not re-run it.</remarks>
public ref struct Ipv6Packet
{
    private readonly Span<byte> _buffer;
    private readonly int _upperLayerOffset;
    private readonly IpProtocol _upperLayerProtocol;
    private readonly int _fragmentHeaderOffset;

    /// <summary>Length of the fixed header.</summary>
    public const int HeaderLength = 40;

    /// <summary>The walk stops with <see cref="WireError.Unsupported"/> after this many extension headers,
    /// bounding the work an adversarial chain can cause.</summary>
    public const int MaxExtensionHeaders = 8;

    private Ipv6Packet(Span<byte> buffer, int upperLayerOffset, IpProtocol upperLayerProtocol, int fragmentHeaderOffset)
    {
        _buffer = buffer;
        _upperLayerOffset = upperLayerOffset;
        _upperLayerProtocol = upperLayerProtocol;
        _fragmentHeaderOffset = fragmentHeaderOffset;
    }

    /// <summary>Validates version and Payload Length against <paramref name="buffer"/> (trailing bytes are
    /// ignored) and walks the extension headers to the upper layer. A chain that overruns the payload is
    /// <see cref="WireError.Truncated"/>; a hop-by-hop header out of first place is <see cref="WireError.BadOption"/>;
    /// a chain longer than <see cref="MaxExtensionHeaders"/> is <see cref="WireError.Unsupported"/>.</summary>
    public static bool TryCreate(Span<byte> buffer, out Ipv6Packet packet, out WireError error)
    {
        packet = default;
        if (buffer.Length < HeaderLength) { error = WireError.Truncated; return false; }
        if (buffer[0] >> 4 != 6) { error = WireError.BadVersion; return false; }
        int end = HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(buffer[4..]);
        if (buffer.Length < end) { error = WireError.Truncated; return false; }
        buffer = buffer[..end];

        var next = (IpProtocol)buffer[6];
        int offset = HeaderLength;
        int fragmentHeaderOffset = -1;
        for (int count = 0; ; count++)
        {
            int length;
            switch (next)
            {
                case IpProtocol.HopByHop:
                case IpProtocol.Ipv6Route:
                case IpProtocol.Ipv6Options:
                case IpProtocol.Ipv6Fragment:
                case IpProtocol.Ah:
                    break;
                default:
                    packet = new Ipv6Packet(buffer, offset, next, fragmentHeaderOffset);
                    error = WireError.None;
                    return true;
            }
            if (count == MaxExtensionHeaders) { error = WireError.Unsupported; return false; }
            // RFC 8200 §4.3: hop-by-hop may only follow the fixed header.
            if (next == IpProtocol.HopByHop && count != 0) { error = WireError.BadOption; return false; }
            // Every extension header is at least 8 bytes and starts with Next Header + a length byte.
            if (end - offset < 8) { error = WireError.Truncated; return false; }
            length = next switch
            {
                IpProtocol.Ipv6Fragment => 8,
                IpProtocol.Ah => (buffer[offset + 1] + 2) * 4,
                _ => (buffer[offset + 1] + 1) * 8,
            };
            if (end - offset < length) { error = WireError.Truncated; return false; }
            if (next == IpProtocol.Ipv6Fragment)
            {
                // A second fragment header would make the fragment fields ambiguous.
                if (fragmentHeaderOffset >= 0) { error = WireError.Unsupported; return false; }
                fragmentHeaderOffset = offset;
            }
            next = (IpProtocol)buffer[offset];
            offset += length;
            // RFC 8200 §4.5: after the fragment header of a non-first fragment comes fragment data, not
            // headers, so the walk ends there with the protocol the fragment header names.
            if (fragmentHeaderOffset >= 0 && (BinaryPrimitives.ReadUInt16BigEndian(buffer[(fragmentHeaderOffset + 2)..]) & 0xFFF8) != 0)
            {
                packet = new Ipv6Packet(buffer, offset, next, fragmentHeaderOffset);
                error = WireError.None;
                return true;
            }
        }
    }

    /// <summary>Validates <paramref name="buffer"/> as an IPv6 packet.</summary>
    public static bool TryCreate(Span<byte> buffer, out Ipv6Packet packet) => TryCreate(buffer, out packet, out _);

    /// <summary>The packet: the fixed header plus Payload Length bytes.</summary>
    public readonly Span<byte> Buffer => _buffer;

    /// <summary>The version field (always 6 in a validated view).</summary>
    public readonly int Version => _buffer[0] >> 4;

    /// <summary>Traffic class (8 bits: DSCP in the high 6, ECN in the low 2).</summary>
    public byte TrafficClass
    {
        readonly get => (byte)(BinaryPrimitives.ReadUInt16BigEndian(_buffer) >> 4);
        set
        {
            ushort word = BinaryPrimitives.ReadUInt16BigEndian(_buffer);
            BinaryPrimitives.WriteUInt16BigEndian(_buffer, (ushort)((word & 0xF00F) | (value << 4)));
        }
    }

    /// <summary>DSCP part of the traffic class.</summary>
    public readonly byte Dscp => (byte)(TrafficClass >> 2);

    /// <summary>ECN part of the traffic class.</summary>
    public readonly byte Ecn => (byte)(TrafficClass & 3);

    /// <summary>Flow label (20 bits).</summary>
    public uint FlowLabel
    {
        readonly get => BinaryPrimitives.ReadUInt32BigEndian(_buffer) & 0xF_FFFF;
        set
        {
            if (value > 0xF_FFFF) ThrowHelper.OutOfRange(nameof(value));
            uint word = BinaryPrimitives.ReadUInt32BigEndian(_buffer);
            BinaryPrimitives.WriteUInt32BigEndian(_buffer, (word & 0xFFF0_0000) | value);
        }
    }

    /// <summary>Payload Length. Setting it may only shrink the packet within the validated view,
    /// and not below the extension headers already walked.</summary>
    public ushort PayloadLength
    {
        readonly get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[4..]);
        set
        {
            if (HeaderLength + value > _buffer.Length || HeaderLength + value < _upperLayerOffset) ThrowHelper.OutOfRange(nameof(value));
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[4..], value);
        }
    }

    /// <summary>Next Header of the fixed header (the first extension header, or the upper layer).</summary>
    public IpProtocol NextHeader
    {
        readonly get => (IpProtocol)_buffer[6];
        set => _buffer[6] = (byte)value;
    }

    /// <summary>Hop limit.</summary>
    public byte HopLimit
    {
        readonly get => _buffer[7];
        set => _buffer[7] = value;
    }

    /// <summary>Source address.</summary>
    public Ipv6Address Source
    {
        readonly get => Ipv6Address.Read(_buffer[8..]);
        set => value.Write(_buffer[8..]);
    }

    /// <summary>Destination address.</summary>
    public Ipv6Address Destination
    {
        readonly get => Ipv6Address.Read(_buffer[24..]);
        set => value.Write(_buffer[24..]);
    }

    /// <summary>Everything after the fixed header, extension headers included, bounded by Payload Length.</summary>
    public readonly Span<byte> Payload => _buffer[HeaderLength..(HeaderLength + PayloadLength)];

    /// <summary>The protocol found at the end of the extension-header walk (e.g. TCP, ICMPv6, ESP, No Next Header).
    /// For a non-first fragment it is the Next Header of the fragment header, whose data starts at <see cref="UpperLayerOffset"/>.</summary>
    public readonly IpProtocol UpperLayerProtocol => _upperLayerProtocol;

    /// <summary>Offset of the upper-layer header from the start of the IPv6 header.</summary>
    public readonly int UpperLayerOffset => _upperLayerOffset;

    /// <summary>Total length of the extension headers.</summary>
    public readonly int ExtensionHeadersLength => _upperLayerOffset - HeaderLength;

    /// <summary>The upper-layer header and data (for a non-first fragment: the fragment's data).</summary>
    public readonly Span<byte> UpperLayerPayload => _buffer[_upperLayerOffset..(HeaderLength + PayloadLength)];

    /// <summary>True when the chain contains a fragment header.</summary>
    public readonly bool HasFragmentHeader => _fragmentHeaderOffset >= 0;

    /// <summary>True when a fragment header is present and either M is set or its offset is non-zero.</summary>
    public readonly bool IsFragment => HasFragmentHeader && (MoreFragments || FragmentOffset != 0);

    /// <summary>Offset of the fragment header from the start of the IPv6 header, or -1.</summary>
    public readonly int FragmentHeaderOffset => _fragmentHeaderOffset;

    /// <summary>Fragment offset in bytes (0 without a fragment header).</summary>
    public readonly int FragmentOffset
        => HasFragmentHeader ? BinaryPrimitives.ReadUInt16BigEndian(_buffer[(_fragmentHeaderOffset + 2)..]) & 0xFFF8 : 0;

    /// <summary>The M (more fragments) flag (false without a fragment header).</summary>
    public readonly bool MoreFragments => HasFragmentHeader && (_buffer[_fragmentHeaderOffset + 3] & 1) != 0;

    /// <summary>The fragment Identification (0 without a fragment header).</summary>
    public readonly uint FragmentIdentification
        => HasFragmentHeader ? BinaryPrimitives.ReadUInt32BigEndian(_buffer[(_fragmentHeaderOffset + 4)..]) : 0;
}
