using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>A validated ICMPv4 echo request/reply, destination-unreachable or time-exceeded message.</summary>
/// <remarks>RFC 792; fragmentation-needed per RFC 1191 §4. The repr does not hold the data bytes (it is a plain
/// value, not a view): <see cref="DataLength"/> says how many follow the header, the packet's
/// <see cref="Icmpv4Packet.Payload"/> holds them, and <see cref="Emit(Span{byte})"/> checksums data the caller
/// has already placed after the header (or <see cref="Emit(Span{byte}, ReadOnlySpan{byte})"/> copies it first).
/// For error messages the data is the quoted original datagram.</remarks>
public readonly struct Icmpv4Repr : IEquatable<Icmpv4Repr>
{
    private Icmpv4Repr(Icmpv4Type type, byte code, ushort identifier, ushort sequenceNumber, ushort nextHopMtu, int dataLength)
    {
        if ((uint)dataLength > ushort.MaxValue) ThrowHelper.OutOfRange(nameof(dataLength));
        Type = type;
        Code = code;
        Identifier = identifier;
        SequenceNumber = sequenceNumber;
        NextHopMtu = nextHopMtu;
        DataLength = dataLength;
    }

    /// <summary>An echo request (RFC 792 "Echo or Echo Reply Message").</summary>
    public static Icmpv4Repr EchoRequest(ushort identifier, ushort sequenceNumber, int dataLength)
        => new(Icmpv4Type.EchoRequest, 0, identifier, sequenceNumber, 0, dataLength);

    /// <summary>An echo reply.</summary>
    public static Icmpv4Repr EchoReply(ushort identifier, ushort sequenceNumber, int dataLength)
        => new(Icmpv4Type.EchoReply, 0, identifier, sequenceNumber, 0, dataLength);

    /// <summary>A destination-unreachable message quoting <paramref name="quotedLength"/> bytes of the original datagram;
    /// <paramref name="nextHopMtu"/> is only meaningful (and only emitted) with <see cref="Icmpv4UnreachableCode.FragmentationNeeded"/>.</summary>
    public static Icmpv4Repr DestinationUnreachable(Icmpv4UnreachableCode code, int quotedLength, ushort nextHopMtu = 0)
        => new(Icmpv4Type.DestinationUnreachable, (byte)code, 0, 0,
            code == Icmpv4UnreachableCode.FragmentationNeeded ? nextHopMtu : (ushort)0, quotedLength);

    /// <summary>Fragmentation needed and DF set, with the next-hop MTU (RFC 1191 §4).</summary>
    public static Icmpv4Repr FragmentationNeeded(ushort nextHopMtu, int quotedLength)
        => DestinationUnreachable(Icmpv4UnreachableCode.FragmentationNeeded, quotedLength, nextHopMtu);

    /// <summary>A time-exceeded message (code 0: TTL exceeded in transit, 1: reassembly time exceeded).</summary>
    public static Icmpv4Repr TimeExceeded(byte code, int quotedLength)
    {
        if (code > 1) ThrowHelper.OutOfRange(nameof(code));
        return new(Icmpv4Type.TimeExceeded, code, 0, 0, 0, quotedLength);
    }

    /// <summary>Message type.</summary>
    public Icmpv4Type Type { get; }
    /// <summary>Message code.</summary>
    public byte Code { get; }
    /// <summary>Echo identifier (0 for error messages).</summary>
    public ushort Identifier { get; }
    /// <summary>Echo sequence number (0 for error messages).</summary>
    public ushort SequenceNumber { get; }
    /// <summary>Next-hop MTU of fragmentation-needed (0 otherwise, and 0 from a pre-RFC 1191 router).</summary>
    public ushort NextHopMtu { get; }
    /// <summary>Bytes after the 8-byte header: echo data or the quoted datagram.</summary>
    public int DataLength { get; }

    /// <summary>True for echo request and reply.</summary>
    public bool IsEcho => Type is Icmpv4Type.EchoRequest or Icmpv4Type.EchoReply;

    /// <summary>The unreachable code, meaningful when <see cref="Type"/> is destination-unreachable.</summary>
    public Icmpv4UnreachableCode UnreachableCode => (Icmpv4UnreachableCode)Code;

    /// <summary>Bytes <see cref="Emit(Span{byte})"/> covers: 8 + <see cref="DataLength"/>.</summary>
    public int BufferLength => Icmpv4Packet.HeaderLength + DataLength;

    /// <summary>Parses a validated view: verifies the checksum, then accepts echo (code 0), destination
    /// unreachable (codes 0..15) and time exceeded (codes 0..1); other types are <see cref="WireError.Unsupported"/>.</summary>
    public static bool TryParse(in Icmpv4Packet packet, out Icmpv4Repr repr, out WireError error)
    {
        repr = default;
        if (!packet.VerifyChecksum()) { error = WireError.BadChecksum; return false; }
        int dataLength = packet.Buffer.Length - Icmpv4Packet.HeaderLength;
        byte code = packet.Code;
        switch (packet.MessageType)
        {
            case Icmpv4Type.EchoRequest when code == 0:
                repr = EchoRequest(packet.EchoIdentifier, packet.EchoSequence, dataLength);
                break;
            case Icmpv4Type.EchoReply when code == 0:
                repr = EchoReply(packet.EchoIdentifier, packet.EchoSequence, dataLength);
                break;
            case Icmpv4Type.DestinationUnreachable when code <= (byte)Icmpv4UnreachableCode.PrecedenceCutoff:
                repr = DestinationUnreachable((Icmpv4UnreachableCode)code, dataLength, packet.NextHopMtu);
                break;
            case Icmpv4Type.TimeExceeded when code <= 1:
                repr = TimeExceeded(code, dataLength);
                break;
            default:
                error = WireError.Unsupported;
                return false;
        }
        error = WireError.None;
        return true;
    }

    /// <summary>Parses without reporting the error.</summary>
    public static bool TryParse(in Icmpv4Packet packet, out Icmpv4Repr repr) => TryParse(packet, out repr, out _);

    /// <summary>Writes the header into <paramref name="buffer"/> and the checksum over the first
    /// <see cref="BufferLength"/> bytes, whose data part the caller has already filled.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="BufferLength"/>.</exception>
    public void Emit(Span<byte> buffer)
    {
        int length = BufferLength;
        if (buffer.Length < length) ThrowHelper.BufferTooSmall(length, buffer.Length);
        buffer[0] = (byte)Type;
        buffer[1] = Code;
        buffer[2] = 0;
        buffer[3] = 0;
        if (IsEcho)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer[4..], Identifier);
            BinaryPrimitives.WriteUInt16BigEndian(buffer[6..], SequenceNumber);
        }
        else
        {
            // RFC 1191 §4: the high 16 bits stay zero ("unused"); the MTU goes in the low 16.
            BinaryPrimitives.WriteUInt32BigEndian(buffer[4..], NextHopMtu);
        }
        BinaryPrimitives.WriteUInt16BigEndian(buffer[2..], InternetChecksum.Compute(buffer[..length]));
    }

    /// <summary>Copies <paramref name="data"/> after the header, then emits as <see cref="Emit(Span{byte})"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="data"/> is not <see cref="DataLength"/> bytes, or the buffer is too small.</exception>
    public void Emit(Span<byte> buffer, ReadOnlySpan<byte> data)
    {
        if (data.Length != DataLength) ThrowHelper.OutOfRange(nameof(data));
        if (buffer.Length < BufferLength) ThrowHelper.BufferTooSmall(BufferLength, buffer.Length);
        data.CopyTo(buffer[Icmpv4Packet.HeaderLength..]);
        Emit(buffer);
    }

    /// <inheritdoc/>
    public bool Equals(Icmpv4Repr other)
        => Type == other.Type && Code == other.Code && Identifier == other.Identifier && SequenceNumber == other.SequenceNumber
           && NextHopMtu == other.NextHopMtu && DataLength == other.DataLength;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Icmpv4Repr r && Equals(r);
    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Type, Code, Identifier, SequenceNumber, NextHopMtu, DataLength);
    /// <summary>Equality.</summary>
    public static bool operator ==(Icmpv4Repr a, Icmpv4Repr b) => a.Equals(b);
    /// <summary>Inequality.</summary>
    public static bool operator !=(Icmpv4Repr a, Icmpv4Repr b) => !a.Equals(b);
}
