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

    /// <summary>The record as a new array.</summary>
    public static byte[] Wrap(long sessionId, bool fromClient, ReadOnlySpan<byte> message)
    {
        var bytes = new byte[GetLength(message.Length)];
        Wrap(sessionId, fromClient, message, bytes);
        return bytes;
    }
}
