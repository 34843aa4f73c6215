using System.Buffers.Binary;
using System.Text;

namespace OffloadEmu.Link.Capture;

/// <summary>
/// Reads classic pcap (microsecond and nanosecond magics, either byte order) and pcapng (SHB, IDB,
/// EPB, SPB in either byte order, several sections, any <c>if_tsresol</c>/<c>if_tsoffset</c>;
/// other block types, including the future chimney-call Custom Blocks, are skipped).
/// </summary>
/// <remarks>
/// The whole file is held in memory and frames are slices of it (no copy per frame). Every length is
/// checked before it is used: a truncated or corrupt file ends in a <see cref="CaptureFormatException"/>
/// naming the offset, never in an index or overflow exception. A file cut exactly at a record boundary
/// reads as a clean, shorter file.
/// </remarks>
public sealed class CaptureReader
{
    private readonly ReadOnlyMemory<byte> _data;
    private readonly List<CaptureInterface> _interfaces = new();
    private int _position;
    private bool _bigEndian;

    // Per-interface timestamp scaling for the current pcapng section.
    private readonly List<(bool binary, int exponent, long offsetSeconds)> _resolutions = new();

    // Classic pcap state.
    private bool _pcapNanoseconds;
    private CaptureInterface? _pcapInterface;

    /// <summary>Reads a capture held in memory; frames are slices of <paramref name="data"/>.</summary>
    /// <exception cref="CaptureFormatException">The data is not pcap or pcapng.</exception>
    public CaptureReader(ReadOnlyMemory<byte> data)
    {
        _data = data;
        ReadFileHeader();
    }

    /// <summary>Reads a capture file into memory.</summary>
    public static CaptureReader Open(string path) => new(File.ReadAllBytes(path));

    /// <summary>Reads a whole stream into memory.</summary>
    public static CaptureReader Open(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return new CaptureReader(copy.GetBuffer().AsMemory(0, (int)copy.Length));
    }

    /// <summary>The file's format.</summary>
    public CaptureFormat Format { get; private set; }

    /// <summary>Interfaces seen so far (for pcapng, of the current section).</summary>
    public IReadOnlyList<CaptureInterface> Interfaces => _interfaces;

    /// <summary>Offset of the next unread byte.</summary>
    public long Position => _position;

    /// <summary>Reads every remaining frame.</summary>
    public IEnumerable<CapturedFrame> ReadAll()
    {
        while (TryRead(out var frame)) yield return frame;
    }

    /// <summary>Reads the next frame; false at a clean end of file.</summary>
    /// <exception cref="CaptureFormatException">The file is truncated or malformed here.</exception>
    public bool TryRead(out CapturedFrame frame)
        => Format == CaptureFormat.Pcap ? TryReadPcap(out frame) : TryReadPcapNg(out frame);

    private ReadOnlySpan<byte> Bytes => _data.Span;

    private void ReadFileHeader()
    {
        var b = Bytes;
        if (b.Length < 4) throw new CaptureFormatException(0, $"file is {b.Length} bytes long, too short for a pcap or pcapng header");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(b);
        switch (magic)
        {
            case PcapNgWriter.BlockTypeSectionHeader:
                Format = CaptureFormat.PcapNg;
                return; // the SHB is read as the first block
            case PcapWriter.MagicMicroseconds: _bigEndian = false; _pcapNanoseconds = false; break;
            case PcapWriter.MagicNanoseconds: _bigEndian = false; _pcapNanoseconds = true; break;
            case 0xD4C3B2A1: _bigEndian = true; _pcapNanoseconds = false; break;
            case 0x4D3CB2A1: _bigEndian = true; _pcapNanoseconds = true; break;
            default: throw new CaptureFormatException(0, $"unknown magic 0x{magic:x8} (not pcap or pcapng)");
        }
        Format = CaptureFormat.Pcap;
        if (b.Length < 24) throw new CaptureFormatException(0, "truncated pcap file header (24 bytes expected)");
        int snap = (int)Math.Min(U32(b[16..]), int.MaxValue);
        // The upper bits of the link type field carry FCS information (pcap-linktype(7)).
        int link = (int)(U32(b[20..]) & 0x03FF_FFFF);
        _pcapInterface = new CaptureInterface(0, null, link, snap);
        _interfaces.Add(_pcapInterface);
        _position = 24;
    }

    private bool TryReadPcap(out CapturedFrame frame)
    {
        frame = default;
        var b = Bytes;
        int at = _position;
        if (at == b.Length) return false;
        if (b.Length - at < 16) throw new CaptureFormatException(at, $"truncated record header ({b.Length - at} of 16 bytes)");
        uint seconds = U32(b[at..]);
        uint fraction = U32(b[(at + 4)..]);
        uint captured = U32(b[(at + 8)..]);
        uint original = U32(b[(at + 12)..]);
        if (captured > (uint)(b.Length - at - 16))
            throw new CaptureFormatException(at, $"record claims {captured} captured bytes but only {b.Length - at - 16} remain");
        if (_pcapNanoseconds ? fraction >= 1_000_000_000u : fraction >= 1_000_000u)
            throw new CaptureFormatException(at, $"sub-second timestamp field {fraction} out of range");
        long ns = seconds * 1_000_000_000L + (_pcapNanoseconds ? fraction : fraction * 1000L);
        _position = at + 16 + (int)captured;
        frame = new CapturedFrame(ns, _pcapInterface!, CaptureDirection.Unknown, (int)Math.Min(original, int.MaxValue),
            _data.Slice(at + 16, (int)captured));
        return true;
    }

    private bool TryReadPcapNg(out CapturedFrame frame)
    {
        frame = default;
        while (true)
        {
            var b = Bytes;
            int at = _position;
            if (at == b.Length) return false;
            if (b.Length - at < 12) throw new CaptureFormatException(at, $"truncated block header ({b.Length - at} bytes left, 12 needed)");
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
            if (type == PcapNgWriter.BlockTypeSectionHeader)
            {
                // The byte order of everything that follows is set by this block's magic.
                uint bom = BinaryPrimitives.ReadUInt32LittleEndian(b[(at + 8)..]);
                if (bom == PcapNgWriter.ByteOrderMagic) _bigEndian = false;
                else if (bom == 0x4D3C2B1A) _bigEndian = true;
                else throw new CaptureFormatException(at + 8, $"bad section byte-order magic 0x{bom:x8}");
            }
            else if (at == 0)
            {
                throw new CaptureFormatException(0, "pcapng file does not start with a Section Header Block");
            }
            else
            {
                type = U32(b[at..]);
            }

            uint totalLength = U32(b[(at + 4)..]);
            if (totalLength < 12 || (totalLength & 3) != 0)
                throw new CaptureFormatException(at, $"block length {totalLength} is invalid (at least 12, multiple of 4)");
            if (totalLength > (uint)(b.Length - at))
                throw new CaptureFormatException(at, $"block length {totalLength} runs past the end of the file ({b.Length - at} bytes left)");
            int total = (int)totalLength;
            uint trailer = U32(b[(at + total - 4)..]);
            if (trailer != totalLength)
                throw new CaptureFormatException(at, $"block trailing length {trailer} differs from leading length {totalLength}");
            var body = b.Slice(at + 8, total - 12);
            int bodyAt = at + 8;
            _position = at + total;

            switch (type)
            {
                case PcapNgWriter.BlockTypeSectionHeader:
                    if (body.Length < 16) throw new CaptureFormatException(at, "Section Header Block too short");
                    ushort major = U16(body[4..]);
                    if (major != 1) throw new CaptureFormatException(at, $"unsupported pcapng major version {major}");
                    _interfaces.Clear();
                    _resolutions.Clear();
                    break;
                case PcapNgWriter.BlockTypeInterfaceDescription:
                    ReadInterface(body, bodyAt);
                    break;
                case PcapNgWriter.BlockTypeEnhancedPacket:
                    frame = ReadEnhancedPacket(body, bodyAt, at);
                    return true;
                case PcapNgWriter.BlockTypeSimplePacket:
                    frame = ReadSimplePacket(body, at);
                    return true;
                default:
                    break; // NRB, ISB, DSB, Custom Blocks (the future chimney calls) ...: not frames, skip
            }
        }
    }

    private void ReadInterface(ReadOnlySpan<byte> body, int bodyAt)
    {
        if (body.Length < 8) throw new CaptureFormatException(bodyAt - 8, "Interface Description Block too short");
        int link = U16(body);
        int snap = (int)Math.Min(U32(body[4..]), int.MaxValue);
        string? name = null, description = null;
        bool binary = false;
        int exponent = 6; // default resolution: microseconds
        long offsetSeconds = 0;
        var options = body[8..];
        int optAt = bodyAt + 8;
        while (NextOption(ref options, ref optAt, out ushort code, out var value))
        {
            switch (code)
            {
                case PcapNgWriter.OptIfName:
                    name = Encoding.UTF8.GetString(value.TrimEnd((byte)0));
                    break;
                case PcapNgWriter.OptIfDescription:
                    description = Encoding.UTF8.GetString(value.TrimEnd((byte)0));
                    break;
                case PcapNgWriter.OptIfTsResol when value.Length >= 1:
                    binary = (value[0] & 0x80) != 0;
                    exponent = value[0] & 0x7F;
                    break;
                case PcapNgWriter.OptIfTsOffset when value.Length >= 8:
                    offsetSeconds = (long)U64(value);
                    break;
            }
        }
        _interfaces.Add(new CaptureInterface(_interfaces.Count, name, link, snap) { Description = description });
        _resolutions.Add((binary, exponent, offsetSeconds));
    }

    private CapturedFrame ReadEnhancedPacket(ReadOnlySpan<byte> body, int bodyAt, int blockAt)
    {
        if (body.Length < 20) throw new CaptureFormatException(blockAt, "Enhanced Packet Block too short");
        uint iface = U32(body);
        if (iface >= (uint)_interfaces.Count)
            throw new CaptureFormatException(blockAt, $"packet refers to interface {iface} but the section declares {_interfaces.Count}");
        ulong units = ((ulong)U32(body[4..]) << 32) | U32(body[8..]);
        uint captured = U32(body[12..]);
        uint original = U32(body[16..]);
        if (captured > (uint)(body.Length - 20))
            throw new CaptureFormatException(blockAt, $"packet claims {captured} captured bytes but the block holds {body.Length - 20}");
        int padded = (int)((captured + 3) & ~3u);
        var direction = CaptureDirection.Unknown;
        if (padded <= body.Length - 20)
        {
            var options = body[(20 + padded)..];
            int optAt = bodyAt + 20 + padded;
            while (NextOption(ref options, ref optAt, out ushort code, out var value))
            {
                if (code == PcapNgWriter.OptEpbFlags && value.Length >= 4) direction = (CaptureDirection)(U32(value) & 3);
            }
        }
        if (direction > CaptureDirection.Outbound) direction = CaptureDirection.Unknown;
        long ns = ToNanoseconds(units, (int)iface, blockAt);
        return new CapturedFrame(ns, _interfaces[(int)iface], direction, (int)Math.Min(original, int.MaxValue),
            _data.Slice(bodyAt + 20, (int)captured));
    }

    private CapturedFrame ReadSimplePacket(ReadOnlySpan<byte> body, int blockAt)
    {
        if (body.Length < 4) throw new CaptureFormatException(blockAt, "Simple Packet Block too short");
        if (_interfaces.Count == 0) throw new CaptureFormatException(blockAt, "Simple Packet Block before any Interface Description Block");
        uint original = U32(body);
        // An SPB has no captured length: it is the original length cut by the snap length and the block size.
        long captured = Math.Min(original, (uint)(body.Length - 4));
        int snap = _interfaces[0].SnapLength;
        if (snap > 0) captured = Math.Min(captured, snap);
        return new CapturedFrame(0, _interfaces[0], CaptureDirection.Unknown, (int)Math.Min(original, int.MaxValue),
            _data.Slice(blockAt + 12, (int)captured));
    }

    /// <summary>Reads one option (code, length, padded value); false at opt_endofopt or the end of the area.</summary>
    private bool NextOption(ref ReadOnlySpan<byte> area, ref int areaAt, out ushort code, out ReadOnlySpan<byte> value)
    {
        value = default;
        code = 0;
        if (area.Length == 0) return false; // options may be omitted entirely
        if (area.Length < 4) throw new CaptureFormatException(areaAt, $"truncated option header ({area.Length} bytes)");
        code = U16(area);
        int length = U16(area[2..]);
        if (code == PcapNgWriter.OptEndOfOptions) return false;
        int padded = (length + 3) & ~3;
        if (padded > area.Length - 4)
            throw new CaptureFormatException(areaAt, $"option {code} claims {length} bytes but only {area.Length - 4} remain in the block");
        value = area.Slice(4, length);
        area = area[(4 + padded)..];
        areaAt += 4 + padded;
        return true;
    }

    private long ToNanoseconds(ulong units, int iface, int blockAt)
    {
        var (binary, exponent, offsetSeconds) = _resolutions[iface];
        UInt128 ns;
        if (binary)
        {
            // 2^-exponent seconds per unit: units * 1e9 / 2^exponent (the product fits in 94 bits).
            ns = (UInt128)units * 1_000_000_000u >> Math.Min(exponent, 127);
        }
        else if (exponent <= 9)
        {
            ns = (UInt128)units * Pow10(9 - exponent);
        }
        else
        {
            ns = exponent - 9 > 38 ? UInt128.Zero : (UInt128)units / Pow10(exponent - 9);
        }
        Int128 result = (Int128)ns + (Int128)offsetSeconds * 1_000_000_000;
        if (result > long.MaxValue || result < long.MinValue)
            throw new CaptureFormatException(blockAt, "timestamp does not fit in 64-bit nanoseconds");
        return (long)result;
    }

    private static UInt128 Pow10(int exponent)
    {
        UInt128 v = 1;
        for (int i = 0; i < exponent; i++) v *= 10;
        return v;
    }

    private ushort U16(ReadOnlySpan<byte> s) => _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);
    private uint U32(ReadOnlySpan<byte> s) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);
    private ulong U64(ReadOnlySpan<byte> s) => _bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(s) : BinaryPrimitives.ReadUInt64LittleEndian(s);
}
