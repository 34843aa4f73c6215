using System.Buffers.Binary;
using System.Text;

namespace OffloadEmu.Link.Capture;

/// <summary>
/// Writes pcapng (draft-ietf-opsawg-pcapng): one Section Header Block, one Interface Description
/// Block per interface (<c>if_name</c>, <c>if_tsresol</c> = 9, i.e. nanoseconds), and one Enhanced
/// Packet Block per frame with <c>epb_flags</c> carrying the direction. Little-endian (the reader
/// handles both byte orders).
/// </summary>
/// <remarks>
/// Chimney calls: the daemon adds a second interface of link type 252 (LINKTYPE_WIRESHARK_UPPER_PDU)
/// whose Enhanced Packet Blocks carry the control messages (<see cref="CaptureRecordQueue"/>,
/// <c>AddInterface(name, linkType)</c>, <see cref="WriteRecord"/>), dissected by
/// scripts/wireshark/offloademu.lua in time order with the wire frames.
/// </remarks>
public sealed class PcapNgWriter : BufferedCaptureWriter
{
    /// <summary>LINKTYPE_ETHERNET.</summary>
    public const int LinkTypeEthernet = 1;

    internal const uint BlockTypeSectionHeader = 0x0A0D0D0A;
    internal const uint BlockTypeInterfaceDescription = 0x00000001;
    internal const uint BlockTypeSimplePacket = 0x00000003;
    internal const uint BlockTypeEnhancedPacket = 0x00000006;
    /// <summary>Custom Block type reserved for the future chimney-call records (not written yet).</summary>
    internal const uint BlockTypeCustom = 0x00000BAD;
    internal const uint ByteOrderMagic = 0x1A2B3C4D;

    internal const ushort OptEndOfOptions = 0;
    internal const ushort OptComment = 1;
    internal const ushort OptIfName = 2;
    internal const ushort OptIfDescription = 3;
    internal const ushort OptIfTsResol = 9;
    internal const ushort OptIfTsOffset = 14;
    internal const ushort OptEpbFlags = 2;

    private readonly int _snapLength;
    private readonly List<int> _snapLengths = [];
    private int _interfaces;

    /// <summary>Creates the writer and writes the Section Header Block.</summary>
    /// <param name="stream">Destination; written sequentially, never sought.</param>
    /// <param name="snapLength">Bytes kept per frame (longer frames are cut; the original length is recorded).</param>
    /// <param name="leaveOpen">Leave <paramref name="stream"/> open on Dispose.</param>
    /// <param name="bufferSize">Size of the write buffer in front of the stream.</param>
    /// <param name="application">Recorded as <c>shb_userappl</c>.</param>
    public PcapNgWriter(Stream stream, int snapLength = 262144, bool leaveOpen = false, int bufferSize = 64 * 1024, string application = "OffloadEmu")
        : base(stream, leaveOpen, bufferSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(snapLength, 1);
        _snapLength = snapLength;
        lock (Gate) WriteSectionHeader(application);
    }

    private void WriteSectionHeader(string application)
    {
        // shb_userappl (option 4), UTF-8, padded.
        int appBytes = Math.Min(Encoding.UTF8.GetByteCount(application), 128);
        int appOpt = appBytes == 0 ? 0 : 4 + Align4(appBytes);
        int total = 24 + appOpt + 4 + 4;
        var h = Reserve(24);
        BinaryPrimitives.WriteUInt32LittleEndian(h, BlockTypeSectionHeader);
        BinaryPrimitives.WriteInt32LittleEndian(h[4..], total);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], ByteOrderMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(h[12..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(h[14..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(h[16..], -1); // section length unknown: we stream
        if (appOpt != 0)
        {
            var o = Reserve(appOpt);
            BinaryPrimitives.WriteUInt16LittleEndian(o, 4);
            BinaryPrimitives.WriteUInt16LittleEndian(o[2..], (ushort)appBytes);
            Encoding.UTF8.GetBytes(application.AsSpan(), o[4..]);
        }
        var t = Reserve(8);
        // opt_endofopt (4 zero bytes) then the trailing total length.
        BinaryPrimitives.WriteInt32LittleEndian(t[4..], total);
    }

    /// <summary>Writes an Interface Description Block for an Ethernet interface named <paramref name="name"/>.</summary>
    public override int AddInterface(string name) => AddInterface(name, LinkTypeEthernet);

    /// <summary>Writes an Interface Description Block with the given link type and returns its index.</summary>
    public int AddInterface(string name, int linkType) => AddInterface(name, linkType, _snapLength);

    /// <summary>Writes an Interface Description Block with the given link type and snap length (bytes kept per record
    /// on this interface) and returns its index.</summary>
    public int AddInterface(string name, int linkType, int snapLength) => AddInterface(name, linkType, snapLength, null);

    /// <summary>As <see cref="AddInterface(string, int, int)"/> with an if_description option (null or empty: none), e.g.
    /// what a reader must know to read the frames right (segmentation offload).</summary>
    public int AddInterface(string name, int linkType, int snapLength, string? description)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(snapLength, 1);
        lock (Gate)
        {
            int nameBytes = Math.Min(Encoding.UTF8.GetByteCount(name), 200);
            int nameOpt = nameBytes == 0 ? 0 : 4 + Align4(nameBytes);
            byte[] descriptionBytes = string.IsNullOrEmpty(description) ? [] : Encoding.UTF8.GetBytes(description);
            if (descriptionBytes.Length > 1000) descriptionBytes = descriptionBytes[..1000];
            int descriptionOpt = descriptionBytes.Length == 0 ? 0 : 4 + Align4(descriptionBytes.Length);
            int total = 16 + nameOpt + descriptionOpt + 8 + 4 + 4;
            var h = Reserve(16);
            BinaryPrimitives.WriteUInt32LittleEndian(h, BlockTypeInterfaceDescription);
            BinaryPrimitives.WriteInt32LittleEndian(h[4..], total);
            BinaryPrimitives.WriteUInt16LittleEndian(h[8..], (ushort)linkType);
            BinaryPrimitives.WriteInt32LittleEndian(h[12..], snapLength);
            if (nameOpt != 0)
            {
                var o = Reserve(nameOpt);
                BinaryPrimitives.WriteUInt16LittleEndian(o, OptIfName);
                BinaryPrimitives.WriteUInt16LittleEndian(o[2..], (ushort)nameBytes);
                Encoding.UTF8.GetBytes(name.AsSpan(0, Math.Min(name.Length, 200)), o[4..]);
            }
            if (descriptionOpt != 0)
            {
                var o = Reserve(4);
                BinaryPrimitives.WriteUInt16LittleEndian(o, OptIfDescription);
                BinaryPrimitives.WriteUInt16LittleEndian(o[2..], (ushort)descriptionBytes.Length);
                Append(descriptionBytes);
                Pad4(descriptionBytes.Length);
            }
            var r = Reserve(8 + 4 + 4);
            BinaryPrimitives.WriteUInt16LittleEndian(r, OptIfTsResol);
            BinaryPrimitives.WriteUInt16LittleEndian(r[2..], 1);
            r[4] = 9; // 10^-9 s: nanoseconds
            // r[8..12) is opt_endofopt.
            BinaryPrimitives.WriteInt32LittleEndian(r[12..], total);
            _snapLengths.Add(snapLength);
            return _interfaces++;
        }
    }

    /// <inheritdoc/>
    public override void WriteFrame(int interfaceIndex, long timestampNs, ReadOnlySpan<byte> frame, CaptureDirection direction)
        => WriteRecord(interfaceIndex, timestampNs, frame, frame.Length, direction);

    /// <summary>Appends one record that was already cut: <paramref name="originalLength"/> (at least its length) is the
    /// length it had on its interface (<see cref="CaptureRecordQueue"/>).</summary>
    public void WriteRecord(int interfaceIndex, long timestampNs, ReadOnlySpan<byte> frame, int originalLength, CaptureDirection direction)
    {
        lock (Gate)
        {
            if ((uint)interfaceIndex >= (uint)_interfaces) throw new ArgumentOutOfRangeException(nameof(interfaceIndex), "Call AddInterface first.");
            originalLength = Math.Max(originalLength, frame.Length);
            int captured = Math.Min(frame.Length, _snapLengths[interfaceIndex]);
            int flagsOpt = direction == CaptureDirection.Unknown ? 0 : 8 + 4; // epb_flags + opt_endofopt
            int total = 28 + Align4(captured) + flagsOpt + 4;
            ulong ts = (ulong)timestampNs;
            var h = Reserve(28);
            BinaryPrimitives.WriteUInt32LittleEndian(h, BlockTypeEnhancedPacket);
            BinaryPrimitives.WriteInt32LittleEndian(h[4..], total);
            BinaryPrimitives.WriteInt32LittleEndian(h[8..], interfaceIndex);
            BinaryPrimitives.WriteUInt32LittleEndian(h[12..], (uint)(ts >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(h[16..], (uint)ts);
            BinaryPrimitives.WriteInt32LittleEndian(h[20..], captured);
            BinaryPrimitives.WriteInt32LittleEndian(h[24..], originalLength);
            Append(frame[..captured]);
            Pad4(captured);
            var t = Reserve(flagsOpt + 4);
            if (flagsOpt != 0)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(t, OptEpbFlags);
                BinaryPrimitives.WriteUInt16LittleEndian(t[2..], 4);
                BinaryPrimitives.WriteUInt32LittleEndian(t[4..], (uint)direction & 3);
            }
            BinaryPrimitives.WriteInt32LittleEndian(t[flagsOpt..], total);
        }
    }

    private static int Align4(int n) => (n + 3) & ~3;
}
