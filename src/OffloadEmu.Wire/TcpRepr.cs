using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>
/// A validated, high-level value of a TCP header: what the TCP machine consumes and produces. Obtained from a
/// <see cref="TcpSegment"/> with <c>TryParse</c> (checksum verified, options parsed) and turned back into bytes with
/// <c>Emit</c> (checksum filled). Value equality.
/// </summary>
/// <remarks>
/// RFC 9293 §3.1. The acknowledgment number is present exactly when the ACK flag is: <see cref="Flags"/> always reports
/// <see cref="TcpFlags.Ack"/> as <c>AckNumber.HasValue</c>. The reserved bits are not represented and are emitted as zero.
/// Emission drops the SYN-only options (MSS, window scale, SACK-permitted) from non-SYN segments (RFC 9293 §3.7.1
/// MUST-65, RFC 7323 §2.2, RFC 2018 §2).
/// </remarks>
public readonly struct TcpRepr : IEquatable<TcpRepr>
{
    private readonly TcpFlags _flags;

    /// <summary>Source port.</summary>
    public ushort SourcePort { get; init; }

    /// <summary>Destination port.</summary>
    public ushort DestinationPort { get; init; }

    /// <summary>Sequence number.</summary>
    public SeqNumber SequenceNumber { get; init; }

    /// <summary>Acknowledgment number, present iff the ACK flag is set.</summary>
    public SeqNumber? AckNumber { get; init; }

    /// <summary>Control bits; the ACK bit follows <see cref="AckNumber"/> whatever is assigned.</summary>
    public TcpFlags Flags
    {
        get => (_flags & ~TcpFlags.Ack) | (AckNumber.HasValue ? TcpFlags.Ack : TcpFlags.None);
        init => _flags = value;
    }

    /// <summary>The raw 16-bit window field (unscaled).</summary>
    public ushort Window { get; init; }

    /// <summary>Urgent pointer.</summary>
    public ushort UrgentPointer { get; init; }

    /// <summary>Options carried (or to carry).</summary>
    public TcpOptions Options { get; init; }

    /// <summary>Payload length in bytes.</summary>
    public int PayloadLength { get; init; }

    /// <summary>Options as <c>Emit</c> writes them: SYN-only ones removed unless this is a SYN.</summary>
    private TcpOptions EmittedOptions => (_flags & TcpFlags.Syn) != 0 ? Options : Options.WithoutSynOnlyOptions();

    /// <summary>Header length in bytes including options (a multiple of 4, 20–60).</summary>
    public int BufferLength => TcpSegment.MinHeaderLength + EmittedOptions.EmittedLength;

    /// <summary>Header plus payload: the IP payload length of the emitted segment.</summary>
    public int SegmentBufferLength => BufferLength + PayloadLength;

    /// <summary>Sequence space occupied: payload plus one for SYN and one for FIN (RFC 9293 §3.4).</summary>
    public int SegmentLength => PayloadLength + ((_flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((_flags & TcpFlags.Fin) != 0 ? 1 : 0);

    /// <summary>Parses an IPv4-carried segment, verifying its checksum against the pseudo-header.</summary>
    public static bool TryParse(in TcpSegment segment, Ipv4Address source, Ipv4Address destination, out TcpRepr repr, out WireError error)
        => TryParse(segment, InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Buffer.Length), out repr, out error);

    /// <summary>Parses an IPv4-carried segment (see the overload with an error).</summary>
    public static bool TryParse(in TcpSegment segment, Ipv4Address source, Ipv4Address destination, out TcpRepr repr)
        => TryParse(segment, source, destination, out repr, out _);

    /// <summary>Parses an IPv6-carried segment, verifying its checksum against the pseudo-header.</summary>
    public static bool TryParse(in TcpSegment segment, Ipv6Address source, Ipv6Address destination, out TcpRepr repr, out WireError error)
        => TryParse(segment, InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Buffer.Length), out repr, out error);

    /// <summary>Parses an IPv6-carried segment (see the overload with an error).</summary>
    public static bool TryParse(in TcpSegment segment, Ipv6Address source, Ipv6Address destination, out TcpRepr repr)
        => TryParse(segment, source, destination, out repr, out _);

    /// <summary>Parses a segment given its unfolded pseudo-header sum (which must include the segment length);
    /// <see cref="WireError.BadChecksum"/> or <see cref="WireError.BadOption"/> on failure.</summary>
    public static bool TryParse(in TcpSegment segment, ulong pseudoHeaderSum, out TcpRepr repr, out WireError error)
    {
        if (!segment.VerifyChecksum(pseudoHeaderSum))
        {
            repr = default;
            error = WireError.BadChecksum;
            return false;
        }
        return TryParseUnverified(segment, out repr, out error);
    }

    /// <summary>Parses without checking the checksum, for frames a device reports as already verified
    /// (<c>ChecksumCapabilities.RxValidated</c>).</summary>
    public static bool TryParseUnverified(in TcpSegment segment, out TcpRepr repr, out WireError error)
    {
        if (!TcpOptions.TryParse(segment.Options, out var options, out error))
        {
            repr = default;
            return false;
        }
        var flags = segment.Flags;
        repr = new TcpRepr
        {
            SourcePort = segment.SourcePort,
            DestinationPort = segment.DestinationPort,
            SequenceNumber = segment.SequenceNumber,
            AckNumber = (flags & TcpFlags.Ack) != 0 ? segment.AcknowledgmentNumber : null,
            Flags = flags,
            Window = segment.WindowSize,
            UrgentPointer = segment.UrgentPointer,
            Options = options,
            PayloadLength = segment.Buffer.Length - segment.HeaderLength,
        };
        return true;
    }

    /// <summary>Writes header and options, copies <paramref name="payload"/> after them and fills the IPv4 checksum.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="SegmentBufferLength"/>, or the payload length differs from <see cref="PayloadLength"/>.</exception>
    public void Emit(Span<byte> buffer, Ipv4Address source, Ipv4Address destination, ReadOnlySpan<byte> payload)
    {
        var segment = EmitHeaderAndPayload(buffer, payload);
        segment.FillChecksum(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Buffer.Length));
    }

    /// <summary>Writes header and options and fills the IPv4 checksum over a payload already in place at
    /// <c>buffer[BufferLength..SegmentBufferLength]</c> (zero-copy send).</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="SegmentBufferLength"/>.</exception>
    public void Emit(Span<byte> buffer, Ipv4Address source, Ipv4Address destination)
    {
        var segment = EmitHeader(buffer);
        segment.FillChecksum(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Buffer.Length));
    }

    /// <summary>Writes header and options, copies <paramref name="payload"/> after them and fills the IPv6 checksum.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="SegmentBufferLength"/>, or the payload length differs from <see cref="PayloadLength"/>.</exception>
    public void Emit(Span<byte> buffer, Ipv6Address source, Ipv6Address destination, ReadOnlySpan<byte> payload)
    {
        var segment = EmitHeaderAndPayload(buffer, payload);
        segment.FillChecksum(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Buffer.Length));
    }

    /// <summary>Writes header and options and fills the IPv6 checksum over a payload already in place.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="SegmentBufferLength"/>.</exception>
    public void Emit(Span<byte> buffer, Ipv6Address source, Ipv6Address destination)
    {
        var segment = EmitHeader(buffer);
        segment.FillChecksum(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Buffer.Length));
    }

    /// <summary>Writes header and options over a payload already in place, with a partial checksum (the IPv4 pseudo-header
    /// sum only) for a device that completes it (virtio-net NEEDS_CSUM: csum_start at the TCP header, csum_offset
    /// <see cref="VirtioNetHeader.TcpChecksumOffset"/>). The payload is not read.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="SegmentBufferLength"/>.</exception>
    public void EmitPartialChecksum(Span<byte> buffer, Ipv4Address source, Ipv4Address destination)
    {
        var segment = EmitHeader(buffer);
        segment.FillPartialChecksum(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Buffer.Length));
    }

    /// <summary>As <see cref="EmitPartialChecksum(Span{byte}, Ipv4Address, Ipv4Address)"/> with the IPv6 pseudo-header.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="SegmentBufferLength"/>.</exception>
    public void EmitPartialChecksum(Span<byte> buffer, Ipv6Address source, Ipv6Address destination)
    {
        var segment = EmitHeader(buffer);
        segment.FillPartialChecksum(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Buffer.Length));
    }

    private TcpSegment EmitHeaderAndPayload(Span<byte> buffer, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != PayloadLength) TcpThrowHelper.ThrowPayloadLengthMismatch();
        var segment = EmitHeader(buffer);
        payload.CopyTo(segment.Payload);
        return segment;
    }

    // Writes everything but the checksum and returns a view of exactly header + payload.
    private TcpSegment EmitHeader(Span<byte> buffer)
    {
        var options = EmittedOptions;
        int headerLength = TcpSegment.MinHeaderLength + options.EmittedLength;
        int total = headerLength + PayloadLength;
        if ((uint)buffer.Length < (uint)total || PayloadLength < 0) TcpThrowHelper.ThrowDestinationTooSmall();
        var bytes = buffer[..total];
        var segment = TcpSegment.CreateUnchecked(bytes);
        segment.SourcePort = SourcePort;
        segment.DestinationPort = DestinationPort;
        segment.SequenceNumber = SequenceNumber;
        segment.AcknowledgmentNumber = AckNumber ?? default;
        // Data offset, zero reserved bits and the flags in one store.
        BinaryPrimitives.WriteUInt16BigEndian(bytes[12..], (ushort)((headerLength / 4) << 12 | ((ushort)Flags & 0x01FF)));
        segment.WindowSize = Window;
        segment.Checksum = 0;
        segment.UrgentPointer = UrgentPointer;
        options.TryEmit(bytes[TcpSegment.MinHeaderLength..headerLength], out _);
        return segment;
    }

    /// <inheritdoc/>
    public bool Equals(TcpRepr other)
        => SourcePort == other.SourcePort && DestinationPort == other.DestinationPort && SequenceNumber == other.SequenceNumber
           && Nullable.Equals(AckNumber, other.AckNumber) && Flags == other.Flags && Window == other.Window
           && UrgentPointer == other.UrgentPointer && Options == other.Options && PayloadLength == other.PayloadLength;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TcpRepr r && Equals(r);

    /// <inheritdoc/>
    public override int GetHashCode()
        => HashCode.Combine(SourcePort, DestinationPort, SequenceNumber, AckNumber, Flags, Window, Options, PayloadLength);

    /// <summary>Equality.</summary>
    public static bool operator ==(TcpRepr a, TcpRepr b) => a.Equals(b);

    /// <summary>Inequality.</summary>
    public static bool operator !=(TcpRepr a, TcpRepr b) => !a.Equals(b);

    /// <summary>A diagnostic one-line rendering.</summary>
    public override string ToString()
        => $"{SourcePort} > {DestinationPort}: Flags {Flags}, seq {SequenceNumber}, ack {AckNumber?.ToString() ?? "-"}, win {Window}, urg {UrgentPointer}, options {Options}, length {PayloadLength}";
}
