using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>
/// A zero-copy view of a TCP segment (header, options and payload) over a buffer that holds exactly the IP payload.
/// <see cref="TryCreate(Span{byte}, out TcpSegment, out WireError)"/> validates the lengths once; every accessor after
/// that is unchecked. Getters and setters read and write the buffer in network byte order.
/// </summary>
/// <remarks>Header layout: RFC 9293 §3.1. The checksum covers the pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1) and the
/// whole segment.</remarks>
public readonly ref struct TcpSegment
{
    /// <summary>Length of the fixed header (data offset 5).</summary>
    public const int MinHeaderLength = 20;

    /// <summary>Largest header: data offset 15.</summary>
    public const int MaxHeaderLength = 60;

    private const int SourcePortOffset = 0;
    private const int DestinationPortOffset = 2;
    private const int SequenceOffset = 4;
    private const int AcknowledgmentOffset = 8;
    private const int DataOffsetAndFlagsOffset = 12;
    private const int WindowOffset = 14;
    private const int ChecksumOffset = 16;
    private const int UrgentOffset = 18;

    // Bits of the 16-bit word at offset 12: data offset (4), reserved (3), then the nine flags NS..FIN.
    private const ushort FlagsMask = 0x01FF;
    private const ushort ReservedMask = 0x0E00;
    private const int ReservedShift = 9;

    private readonly Span<byte> _buffer;

    private TcpSegment(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Validates <paramref name="buffer"/> as a TCP segment: at least 20 bytes, data offset ≥ 5 and within the buffer.</summary>
    public static bool TryCreate(Span<byte> buffer, out TcpSegment segment) => TryCreate(buffer, out segment, out _);

    /// <summary>Validates <paramref name="buffer"/> as a TCP segment, reporting <see cref="WireError.Truncated"/> or
    /// <see cref="WireError.BadHeaderLength"/> on failure.</summary>
    public static bool TryCreate(Span<byte> buffer, out TcpSegment segment, out WireError error)
    {
        segment = default;
        if (buffer.Length < MinHeaderLength)
        {
            error = WireError.Truncated;
            return false;
        }
        int headerLength = (buffer[DataOffsetAndFlagsOffset] >> 4) * 4;
        if (headerLength < MinHeaderLength || headerLength > buffer.Length)
        {
            error = WireError.BadHeaderLength;
            return false;
        }
        segment = new TcpSegment(buffer);
        error = WireError.None;
        return true;
    }

    /// <summary>Wraps a buffer the caller is about to fill (e.g. before <see cref="TcpRepr.Emit(Span{byte}, Ipv4Address, Ipv4Address)"/>);
    /// the caller guarantees at least 20 bytes and sets <see cref="DataOffset"/> before using options or payload.</summary>
    internal static TcpSegment CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>The whole segment: header, options and payload.</summary>
    public Span<byte> Buffer => _buffer;

    /// <summary>Source port.</summary>
    public ushort SourcePort
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[SourcePortOffset..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[SourcePortOffset..], value);
    }

    /// <summary>Destination port.</summary>
    public ushort DestinationPort
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[DestinationPortOffset..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[DestinationPortOffset..], value);
    }

    /// <summary>Sequence number of the first octet (of the SYN, if set).</summary>
    public SeqNumber SequenceNumber
    {
        get => new(BinaryPrimitives.ReadUInt32BigEndian(_buffer[SequenceOffset..]));
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[SequenceOffset..], value.Value);
    }

    /// <summary>Acknowledgment number (meaningful when <see cref="TcpFlags.Ack"/> is set).</summary>
    public SeqNumber AcknowledgmentNumber
    {
        get => new(BinaryPrimitives.ReadUInt32BigEndian(_buffer[AcknowledgmentOffset..]));
        set => BinaryPrimitives.WriteUInt32BigEndian(_buffer[AcknowledgmentOffset..], value.Value);
    }

    /// <summary>Data offset in 32-bit words (5–15 after validation). Setting it does not re-validate the view.</summary>
    public byte DataOffset
    {
        get => (byte)(_buffer[DataOffsetAndFlagsOffset] >> 4);
        set => _buffer[DataOffsetAndFlagsOffset] = (byte)((value << 4) | (_buffer[DataOffsetAndFlagsOffset] & 0x0F));
    }

    /// <summary>Header length in bytes including options (<see cref="DataOffset"/> × 4).</summary>
    public int HeaderLength => (_buffer[DataOffsetAndFlagsOffset] >> 4) * 4;

    /// <summary>The nine control bits NS..FIN; setting them leaves the data offset and reserved bits alone.</summary>
    public TcpFlags Flags
    {
        get => (TcpFlags)(BinaryPrimitives.ReadUInt16BigEndian(_buffer[DataOffsetAndFlagsOffset..]) & FlagsMask);
        set
        {
            ushort word = BinaryPrimitives.ReadUInt16BigEndian(_buffer[DataOffsetAndFlagsOffset..]);
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[DataOffsetAndFlagsOffset..], (ushort)((word & ~FlagsMask) | ((ushort)value & FlagsMask)));
        }
    }

    /// <summary>The three reserved bits between the data offset and NS (0–7); must be sent as zero (RFC 9293 §3.1).</summary>
    public byte Reserved
    {
        get => (byte)((BinaryPrimitives.ReadUInt16BigEndian(_buffer[DataOffsetAndFlagsOffset..]) & ReservedMask) >> ReservedShift);
        set
        {
            ushort word = BinaryPrimitives.ReadUInt16BigEndian(_buffer[DataOffsetAndFlagsOffset..]);
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[DataOffsetAndFlagsOffset..], (ushort)((word & ~ReservedMask) | ((value << ReservedShift) & ReservedMask)));
        }
    }

    /// <summary>True when every flag in <paramref name="flags"/> is set.</summary>
    public bool HasFlags(TcpFlags flags) => (Flags & flags) == flags;

    /// <summary>The raw, unscaled 16-bit window field (RFC 7323 §2.2: the scale is never applied to a SYN's window).</summary>
    public ushort WindowSize
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[WindowOffset..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[WindowOffset..], value);
    }

    /// <summary>The checksum field as carried.</summary>
    public ushort Checksum
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[ChecksumOffset..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[ChecksumOffset..], value);
    }

    /// <summary>Urgent pointer (offset from the sequence number; meaningful when <see cref="TcpFlags.Urg"/> is set).</summary>
    public ushort UrgentPointer
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_buffer[UrgentOffset..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[UrgentOffset..], value);
    }

    /// <summary>The options area: header bytes 20 to <see cref="HeaderLength"/>.</summary>
    public Span<byte> Options => _buffer[MinHeaderLength..HeaderLength];

    /// <summary>The bytes after the header.</summary>
    public Span<byte> Payload => _buffer[HeaderLength..];

    /// <summary>The raw options in wire order (for formatting); see <see cref="TcpOptionEnumerator"/>.</summary>
    public TcpOptionEnumerator EnumerateOptions() => new(Options);

    /// <summary>Sequence space the segment occupies: payload length plus one each for SYN and FIN (RFC 9293 §3.4).</summary>
    public int SegmentLength
    {
        get
        {
            var flags = Flags;
            return _buffer.Length - HeaderLength + ((flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((flags & TcpFlags.Fin) != 0 ? 1 : 0);
        }
    }

    /// <summary>True when the checksum verifies given <paramref name="pseudoHeaderSum"/>, an unfolded pseudo-header sum
    /// built with this segment's length (see <see cref="InternetChecksum.PseudoHeader(Ipv4Address, Ipv4Address, IpProtocol, int)"/>).</summary>
    public bool VerifyChecksum(ulong pseudoHeaderSum) => InternetChecksum.IsValid(_buffer, pseudoHeaderSum);

    /// <summary>Verifies the checksum with the IPv4 pseudo-header of this segment.</summary>
    public bool VerifyChecksum(Ipv4Address source, Ipv4Address destination)
        => VerifyChecksum(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, _buffer.Length));

    /// <summary>Verifies the checksum with the IPv6 pseudo-header of this segment.</summary>
    public bool VerifyChecksum(Ipv6Address source, Ipv6Address destination)
        => VerifyChecksum(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, _buffer.Length));

    /// <summary>Computes and stores the checksum over the pseudo-header sum and the whole segment.</summary>
    public void FillChecksum(ulong pseudoHeaderSum)
    {
        Checksum = 0;
        Checksum = InternetChecksum.Finish(InternetChecksum.Accumulate(_buffer, pseudoHeaderSum));
    }

    /// <summary>Fills the checksum with the IPv4 pseudo-header of this segment.</summary>
    public void FillChecksum(Ipv4Address source, Ipv4Address destination)
        => FillChecksum(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, _buffer.Length));

    /// <summary>Fills the checksum with the IPv6 pseudo-header of this segment.</summary>
    public void FillChecksum(Ipv6Address source, Ipv6Address destination)
        => FillChecksum(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, _buffer.Length));

    /// <summary>Stores the partial checksum a checksum-offloading device completes (virtio-net NEEDS_CSUM, Linux
    /// CHECKSUM_PARTIAL): the folded, not complemented, pseudo-header sum. The device then sums the segment from the TCP
    /// header on, this field included, and stores the complement.</summary>
    public void FillPartialChecksum(ulong pseudoHeaderSum) => Checksum = InternetChecksum.Fold(pseudoHeaderSum);

    /// <summary>Completes a partial checksum (<see cref="FillPartialChecksum"/>) in software, as the device would.</summary>
    public void CompletePartialChecksum() => Checksum = InternetChecksum.Finish(InternetChecksum.Accumulate(_buffer));
}
