using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>One option exactly as it appears on the wire, yielded by <see cref="TcpOptionEnumerator"/>.</summary>
/// <remarks>
/// Only the framing has been checked (RFC 9293 §3.2: a length byte present and within the header, MUST-68); the
/// data may still be wrong for its kind, which the <c>TryGet…</c> helpers report by returning false, so a
/// formatter can print what is there (tcpdump prints e.g. <c>mss 1281[len 3]</c>).
/// </remarks>
public readonly ref struct TcpOption
{
    internal TcpOption(byte kind, int offset, int length, ReadOnlySpan<byte> data)
    {
        RawKind = kind;
        Offset = offset;
        Length = length;
        Data = data;
    }

    /// <summary>The kind byte as a <see cref="TcpOptionKind"/> (may be a value the enum does not name).</summary>
    public TcpOptionKind Kind => (TcpOptionKind)RawKind;

    /// <summary>The kind byte.</summary>
    public byte RawKind { get; }

    /// <summary>Offset of the kind byte from the start of the options area.</summary>
    public int Offset { get; }

    /// <summary>Total length in bytes: 1 for EOL and NOP, otherwise the length byte (kind and length included).</summary>
    public int Length { get; }

    /// <summary>The bytes after the kind and length bytes (empty for EOL and NOP).</summary>
    public ReadOnlySpan<byte> Data { get; }

    /// <summary>The MSS value when this is a well-formed MSS option.</summary>
    public bool TryGetMaxSegmentSize(out ushort mss)
    {
        bool ok = Kind == TcpOptionKind.MaxSegmentSize && Data.Length == 2;
        mss = ok ? BinaryPrimitives.ReadUInt16BigEndian(Data) : (ushort)0;
        return ok;
    }

    /// <summary>The shift count when this is a well-formed window-scale option (not clamped to 14).</summary>
    public bool TryGetWindowScale(out byte shift)
    {
        bool ok = Kind == TcpOptionKind.WindowScale && Data.Length == 1;
        shift = ok ? Data[0] : (byte)0;
        return ok;
    }

    /// <summary>The timestamp pair when this is a well-formed timestamps option.</summary>
    public bool TryGetTimestamps(out TcpTimestamps timestamps)
    {
        bool ok = Kind == TcpOptionKind.Timestamps && Data.Length == 8;
        timestamps = ok ? new TcpTimestamps(BinaryPrimitives.ReadUInt32BigEndian(Data), BinaryPrimitives.ReadUInt32BigEndian(Data[4..])) : default;
        return ok;
    }

    /// <summary>Number of blocks when this is a well-formed SACK option (length 2 + 8n, n ≥ 1); may exceed 4 here.</summary>
    public bool TryGetSackBlockCount(out int count)
    {
        bool ok = Kind == TcpOptionKind.Sack && Data.Length >= 8 && Data.Length % 8 == 0;
        count = ok ? Data.Length / 8 : 0;
        return ok;
    }

    /// <summary>The <paramref name="index"/>-th block of a SACK option whose count <see cref="TryGetSackBlockCount"/> reported.</summary>
    public SackBlock GetSackBlock(int index)
    {
        var d = Data.Slice(index * 8, 8);
        return new SackBlock(new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(d)), new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(d[4..])));
    }
}
