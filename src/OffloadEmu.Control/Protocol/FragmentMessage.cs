namespace OffloadEmu.Control.Protocol;

/// <summary>
/// One piece of a message too big for one frame (<see cref="MessageType.Fragment"/> client to server,
/// <see cref="MessageType.ServerFragment"/> server to client; protocol version 2). Payload: the inner message's type
/// (u16), reserved (u16, 0), the inner payload's whole length (u32), this piece's offset in it (u32), then the piece as
/// u32 length + bytes (so a cut fragment is malformed, never a shorter piece). The frame's request id is the inner message's. The sender writes the pieces of one message back to back, in
/// order; <see cref="FragmentAssembler"/> checks and joins them.
/// </summary>
internal sealed class FragmentMessage(MessageType type) : ControlMessage
{
    public override MessageType Type { get; } = type;

    public MessageType InnerType { get; init; }

    public uint TotalLength { get; init; }

    public uint Offset { get; init; }

    /// <summary>The piece when decoded (pooled; released with <see cref="Release"/>).</summary>
    public PooledBytes? Piece { get; init; }

    /// <summary>The piece to encode when it is not pooled.</summary>
    public ReadOnlyMemory<byte> Bytes { get; init; }

    public ReadOnlySpan<byte> Span => Piece is { } p ? p.Span : Bytes.Span;

    public override void WritePayload(ref MessageWriter w)
    {
        WriteHeader(ref w, InnerType, TotalLength, Offset);
        w.Blob(Span);
    }

    public static void WriteHeader(ref MessageWriter w, MessageType inner, uint total, uint offset)
    {
        w.U16((ushort)inner);
        w.U16(0);
        w.U32(total);
        w.U32(offset);
    }

    /// <summary>Reads the fragment header and the piece's length, which must be exactly what remains of the payload.</summary>
    public static (MessageType Inner, uint Total, uint Offset, int Length) ReadHeader(ref MessageReader r)
    {
        var inner = (MessageType)r.U16();
        if (r.U16() != 0) throw MessageReader.Malformed("fragment reserved field is not zero");
        uint total = r.U32();
        uint offset = r.U32();
        uint length = r.U32();
        if (length != r.Remaining) throw MessageReader.Malformed($"fragment piece of {length} bytes in {r.Remaining}");
        return (inner, total, offset, (int)length);
    }

    public static FragmentMessage Read(MessageType type, ref MessageReader r)
    {
        var (inner, total, offset, length) = ReadHeader(ref r);
        var piece = PooledBytes.Rent(length);
        r.Raw(piece.Span);
        return new FragmentMessage(type) { InnerType = inner, TotalLength = total, Offset = offset, Piece = piece };
    }

    public override void Release() => Piece?.Release();
}
