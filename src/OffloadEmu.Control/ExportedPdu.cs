using System.Buffers.Binary;
using System.Text;

namespace OffloadEmu.Control;

/// <summary>
/// Wraps a control message for a pcapng interface of link type <see cref="LinkType"/> (LINKTYPE_WIRESHARK_UPPER_PDU):
/// an exported-PDU tag naming the dissector "offloademu" (scripts/wireshark/offloademu.lua), then an 9-byte prefix
/// (u64 session id, u8 1 = from client) and the message as framed on the wire.
/// </summary>
public static class ExportedPdu
{
    /// <summary>LINKTYPE_WIRESHARK_UPPER_PDU.</summary>
    public const int LinkType = 252;

    /// <summary>The dissector the records name.</summary>
    public const string DissectorName = "offloademu";

    private const ushort TagDissectorName = 12;
    private const ushort TagEndOfOptions = 0;
    private static readonly byte[] s_name = Encoding.ASCII.GetBytes(DissectorName);
    private static readonly int s_namePadded = (s_name.Length + 3) & ~3;

    /// <summary>Bytes <see cref="Wrap(long, bool, ReadOnlySpan{byte}, Span{byte})"/> needs for a message of <paramref name="messageLength"/> bytes.</summary>
    public static int GetLength(int messageLength) => 4 + s_namePadded + 4 + 9 + messageLength;

    /// <summary>Writes the record into <paramref name="destination"/>; returns its length.</summary>
    public static int Wrap(long sessionId, bool fromClient, ReadOnlySpan<byte> message, Span<byte> destination)
    {
        int length = GetLength(message.Length);
        var d = destination[..length];
        d.Clear();
        // Exported-PDU tags are big endian: type, length (of the value, padded to 4), value.
        BinaryPrimitives.WriteUInt16BigEndian(d, TagDissectorName);
        BinaryPrimitives.WriteUInt16BigEndian(d[2..], (ushort)s_namePadded);
        s_name.CopyTo(d[4..]);
        int at = 4 + s_namePadded;
        BinaryPrimitives.WriteUInt16BigEndian(d[at..], TagEndOfOptions);
        BinaryPrimitives.WriteUInt16BigEndian(d[(at + 2)..], 0);
        at += 4;
        BinaryPrimitives.WriteInt64LittleEndian(d[at..], sessionId);
        d[at + 8] = fromClient ? (byte)1 : (byte)0;
        message.CopyTo(d[(at + 9)..]);
        return length;
    }

    /// <summary>Bytes of a record's prefix (exported-PDU tags, session id, direction) before the message.</summary>
    public static int HeaderLength => GetLength(0);

    /// <summary>Payload bytes a capture keeps of a message that carries bulk bytes (frames, send, forward and disconnect
    /// data, receive indications): enough for the header, the context or handle and the first NBL's header.</summary>
    public const int DataSnapLength = 128;

    /// <summary>
    /// How many bytes of <paramref name="message"/> (as framed: 16-byte header, then the payload) a capture keeps: a
    /// message carrying bulk bytes its header and the first <see cref="DataSnapLength"/> payload bytes, any other message
    /// whole, up to <paramref name="snapLength"/>.
    /// </summary>
    public static int CaptureLength(ReadOnlySpan<byte> message, int snapLength)
    {
        int keep = Math.Min(message.Length, snapLength);
        if (message.Length < 6) return keep;
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(message[4..]);
        // SendFrame, TcpSend, TcpDisconnect, TcpForward, Fragment; ReceiveIndicate, ReceiveFrame, ServerFragment.
        bool bulk = type is 5 or 11 or 13 or 14 or 18 or 73 or 77 or 80;
        return bulk ? Math.Min(keep, 16 + DataSnapLength) : keep;
    }

    /// <summary>The whole length of a message from its header's length field (the span may be cut).</summary>
    public static int MessageLength(ReadOnlySpan<byte> message)
        => message.Length < 16 ? message.Length : (int)Math.Min(int.MaxValue - 16, BinaryPrimitives.ReadUInt32LittleEndian(message)) + 16;

    /// <summary>Reads a record's prefix: false when <paramref name="record"/> is not an exported PDU naming
    /// <see cref="DissectorName"/> (then the outputs are meaningless).</summary>
    public static bool TryUnwrap(ReadOnlySpan<byte> record, out long sessionId, out bool fromClient, out ReadOnlySpan<byte> message)
    {
        sessionId = 0;
        fromClient = false;
        message = default;
        int at = 0;
        bool named = false;
        // Tags: u16 type, u16 length (big endian), value; up to the end-of-options tag.
        while (true)
        {
            if (record.Length < at + 4) return false;
            ushort tag = BinaryPrimitives.ReadUInt16BigEndian(record[at..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(record[(at + 2)..]);
            at += 4;
            if (tag == TagEndOfOptions) break;
            if (record.Length < at + length) return false;
            if (tag == TagDissectorName) named = record.Slice(at, length).TrimEnd((byte)0).SequenceEqual(s_name);
            at += length;
        }
        if (!named || record.Length < at + 9) return false;
        sessionId = BinaryPrimitives.ReadInt64LittleEndian(record[at..]);
        fromClient = record[at + 8] == 1;
        message = record[(at + 9)..];
        return true;
    }

    /// <summary>
    /// One line for a record (what <c>offloademu decode</c> prints): <c>control session 1 C->S InitiateOffload id=3
    /// 297 bytes</c>; a record of another dissector or a cut header says so instead of failing.
    /// </summary>
    public static string Describe(ReadOnlySpan<byte> record)
    {
        if (!TryUnwrap(record, out long session, out bool fromClient, out var message)) return "[exported PDU, not an offloademu control message]";
        if (message.Length < 16) return $"control session {session} {(fromClient ? "C->S" : "S->C")} [cut: {message.Length} bytes of a header]";
        var type = (Protocol.MessageType)BinaryPrimitives.ReadUInt16LittleEndian(message[4..]);
        ulong id = BinaryPrimitives.ReadUInt64LittleEndian(message[8..]);
        string name = Enum.IsDefined(type) ? type.ToString() : "type " + (ushort)type;
        return $"control session {session} {(fromClient ? "C->S" : "S->C")} {name} id={id} {MessageLength(message) - 16} bytes";
    }

    /// <summary>The record as a new array.</summary>
    public static byte[] Wrap(long sessionId, bool fromClient, ReadOnlySpan<byte> message)
    {
        var bytes = new byte[GetLength(message.Length)];
        Wrap(sessionId, fromClient, message, bytes);
        return bytes;
    }
}
