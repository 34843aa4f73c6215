using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>A zero-copy view of an IPv4 packet.</summary>
/// <remarks>RFC 791 §3.1 (header format); DSCP/ECN per RFC 2474 §3 and RFC 3168 §5. The view is
/// bounded by the Total Length field, so Ethernet padding after the packet is outside <see cref="Buffer"/>.</remarks>
public ref struct Ipv4Packet
{
    private readonly Span<byte> _buffer;

    /// <summary>Length of a header without options.</summary>
    public const int MinHeaderLength = 20;

    /// <summary>Largest header (IHL 15).</summary>
    public const int MaxHeaderLength = 60;

    private Ipv4Packet(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Validates version, IHL and Total Length against <paramref name="buffer"/>; bytes after Total Length are ignored.</summary>
    public static bool TryCreate(Span<byte> buffer, out Ipv4Packet packet, out WireError error)
    {
        packet = default;
        if (buffer.Length < MinHeaderLength) { error = WireError.Truncated; return false; }
        if (buffer[0] >> 4 != 4) { error = WireError.BadVersion; return false; }
        int headerLength = (buffer[0] & 0xF) * 4;
        if (headerLength < MinHeaderLength) { error = WireError.BadHeaderLength; return false; }
        if (buffer.Length < headerLength) { error = WireError.Truncated; return false; }
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
        if (totalLength < headerLength) { error = WireError.BadLength; return false; }
        if (buffer.Length < totalLength) { error = WireError.Truncated; return false; }
        packet = new Ipv4Packet(buffer[..totalLength]);
        error = WireError.None;
        return true;
    }

    /// <summary>Validates <paramref name="buffer"/> as an IPv4 packet.</summary>
    public static bool TryCreate(Span<byte> buffer, out Ipv4Packet packet) => TryCreate(buffer, out packet, out _);

    /// <summary>The packet, exactly Total Length bytes.</summary>
    public readonly Span<byte> Buffer => _buffer;

    /// <summary>The version field (always 4 in a validated view).</summary>
    public readonly int Version => _buffer[0] >> 4;

    /// <summary>Header length in bytes (IHL × 4). Setting it must keep it a multiple of 4 within 20..Total Length.</summary>
    public int HeaderLength
    {
        readonly get => (_buffer[0] & 0xF) * 4;
        set
        {
            if (value < MinHeaderLength || value > MaxHeaderLength || (value & 3) != 0 || value > TotalLength) ThrowHelper.OutOfRange(nameof(value));
            _buffer[0] = (byte)(0x40 | (value / 4));
        }
    }

    /// <summary>Differentiated Services Code Point (6 bits).</summary>
    public byte Dscp
    {
        readonly get => (byte)(_buffer[1] >> 2);
        set => _buffer[1] = (byte)((_buffer[1] & 0x3) | ((value & 0x3F) << 2));
    }

    /// <summary>Explicit Congestion Notification (2 bits).</summary>
    public byte Ecn
    {
        readonly get => (byte)(_buffer[1] & 0x3);
        set => _buffer[1] = (byte)((_buffer[1] & 0xFC) | (value & 0x3));
    }

    /// <summary>Total Length. Setting it may only shrink the packet within the validated view.</summary>
    public ushort TotalLength
    {
        readonly get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[2..]);
        set
        {
            if (value < HeaderLength || value > _buffer.Length) ThrowHelper.OutOfRange(nameof(value));
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[2..], value);
        }
    }

    /// <summary>Identification.</summary>
    public ushort Identification
    {
        readonly get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[4..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[4..], value);
    }

    /// <summary>The DF flag.</summary>
    public bool DontFragment
    {
        readonly get => (_buffer[6] & 0x40) != 0;
        set => _buffer[6] = (byte)(value ? _buffer[6] | 0x40 : _buffer[6] & ~0x40);
    }

    /// <summary>The MF flag.</summary>
    public bool MoreFragments
    {
        readonly get => (_buffer[6] & 0x20) != 0;
        set => _buffer[6] = (byte)(value ? _buffer[6] | 0x20 : _buffer[6] & ~0x20);
    }

    /// <summary>Fragment offset in bytes (the field × 8). Setting requires a multiple of 8 below 65536.</summary>
    public int FragmentOffset
    {
        readonly get => (BinaryPrimitives.ReadUInt16BigEndian(_buffer[6..]) & 0x1FFF) * 8;
        set
        {
            if (value < 0 || value > 0x1FFF * 8 || (value & 7) != 0) ThrowHelper.OutOfRange(nameof(value));
            ushort word = BinaryPrimitives.ReadUInt16BigEndian(_buffer[6..]);
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[6..], (ushort)((word & 0xE000) | (value / 8)));
        }
    }

    /// <summary>True for any fragment: MF set or a non-zero offset (RFC 791 §2.3).</summary>
    public readonly bool IsFragment => MoreFragments || FragmentOffset != 0;

    /// <summary>Time to live.</summary>
    public byte TimeToLive
    {
        readonly get => _buffer[8];
        set => _buffer[8] = value;
    }

    /// <summary>Protocol of the payload.</summary>
    public IpProtocol Protocol
    {
        readonly get => (IpProtocol)_buffer[9];
        set => _buffer[9] = (byte)value;
    }

    /// <summary>Header checksum field.</summary>
    public ushort Checksum
    {
        readonly get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[10..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[10..], value);
    }

    /// <summary>Source address.</summary>
    public Ipv4Address Source
    {
        readonly get => Ipv4Address.Read(_buffer[12..]);
        set => value.Write(_buffer[12..]);
    }

    /// <summary>Destination address.</summary>
    public Ipv4Address Destination
    {
        readonly get => Ipv4Address.Read(_buffer[16..]);
        set => value.Write(_buffer[16..]);
    }

    /// <summary>True when the header carries options (IHL &gt; 5).</summary>
    public readonly bool HasOptions => HeaderLength > MinHeaderLength;

    /// <summary>Length of the options in bytes.</summary>
    public readonly int OptionsLength => HeaderLength - MinHeaderLength;

    /// <summary>The raw option bytes (RFC 791 §3.1 "Options"); not interpreted here.</summary>
    public readonly Span<byte> Options => _buffer[MinHeaderLength..HeaderLength];

    /// <summary>The payload as bounded by Total Length.</summary>
    public readonly Span<byte> Payload => _buffer[HeaderLength..TotalLength];

    /// <summary>True when the header checksum verifies.</summary>
    public readonly bool VerifyChecksum() => InternetChecksum.IsValid(_buffer[..HeaderLength]);

    /// <summary>Computes and stores the header checksum.</summary>
    public void FillChecksum()
    {
        Checksum = 0;
        Checksum = InternetChecksum.Compute(_buffer[..HeaderLength]);
    }
}
