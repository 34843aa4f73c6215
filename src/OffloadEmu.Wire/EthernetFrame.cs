// The view/repr contract of OffloadEmu.Wire (smoltcp's src/wire shape, in C#):
//
// * A view (`XxxPacket`, `EthernetFrame`) is a `ref struct` over a caller-owned `Span<byte>`.
//   `TryCreate` validates once: minimum length, version, header-length and total-length fields
//   against the buffer. After that every getter and setter is unchecked against the bytes it
//   validated, so no accessor can read past the checked extent, and nothing is copied. Setters
//   that change a length field re-check it against the buffer, because a later accessor relies on it.
// * Parsing never throws: malformed input gives `false` plus a `WireError`. Only programming
//   errors (emitting into a buffer that is too small, out-of-range setter values) throw.
// * `Payload` is the protocol's payload as bounded by its own length fields, so trailing
//   link-layer padding is excluded where the protocol has a length (IPv4, IPv6).
// * A repr (`XxxRepr`) is a small `readonly struct` of validated field values with value
//   equality. `TryParse(in view, ...)` checks semantics (checksums, supported types), `BufferLength`
//   says how many bytes `Emit` writes, and `Emit` writes the header and every checksum it can
//   compute from what it is given. Payload bytes are never copied by a repr; where a checksum
//   covers the payload (ICMP) the caller places the payload first, or uses the overload taking it.
// * No allocation on any parse or emit path: no LINQ, boxing, strings or params arrays.
using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>A zero-copy view of an Ethernet II frame, optionally carrying one 802.1Q VLAN tag.</summary>
/// <remarks>IEEE 802.3 §3.1 (Ethernet II / DIX framing) and IEEE 802.1Q §9.6 (C-tag). The FCS is not
/// part of the buffer. A frame whose EtherType is 0x8100 is read as tagged: the tag follows the
/// source address and the real EtherType follows the tag.</remarks>
public ref struct EthernetFrame
{
    private readonly Span<byte> _buffer;

    /// <summary>Length of an untagged Ethernet II header.</summary>
    public const int UntaggedHeaderLength = 14;

    /// <summary>Length of a header carrying one 802.1Q tag.</summary>
    public const int TaggedHeaderLength = 18;

    private EthernetFrame(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Validates <paramref name="buffer"/> as an Ethernet II frame (with its header, and its tag if one is announced).</summary>
    public static bool TryCreate(Span<byte> buffer, out EthernetFrame frame, out WireError error)
    {
        frame = default;
        if (buffer.Length < UntaggedHeaderLength) { error = WireError.Truncated; return false; }
        if (BinaryPrimitives.ReadUInt16BigEndian(buffer[12..]) == (ushort)EtherType.Vlan && buffer.Length < TaggedHeaderLength)
        {
            error = WireError.Truncated;
            return false;
        }
        frame = new EthernetFrame(buffer);
        error = WireError.None;
        return true;
    }

    /// <summary>Validates <paramref name="buffer"/> as an Ethernet II frame.</summary>
    public static bool TryCreate(Span<byte> buffer, out EthernetFrame frame) => TryCreate(buffer, out frame, out _);

    /// <summary>The whole frame.</summary>
    public readonly Span<byte> Buffer => _buffer;

    /// <summary>True when the frame carries an 802.1Q tag.</summary>
    public readonly bool HasVlanTag => BinaryPrimitives.ReadUInt16BigEndian(_buffer[12..]) == (ushort)EtherType.Vlan;

    /// <summary>Header length: 14, or 18 when tagged. The payload starts here.</summary>
    public readonly int HeaderLength => HasVlanTag ? TaggedHeaderLength : UntaggedHeaderLength;

    /// <summary>Destination MAC address.</summary>
    public MacAddress Destination
    {
        readonly get => MacAddress.Read(_buffer);
        set => value.Write(_buffer);
    }

    /// <summary>Source MAC address.</summary>
    public MacAddress Source
    {
        readonly get => MacAddress.Read(_buffer[6..]);
        set => value.Write(_buffer[6..]);
    }

    /// <summary>The EtherType at offset 12 (0x8100 when tagged).</summary>
    public readonly EtherType OuterEtherType => (EtherType)BinaryPrimitives.ReadUInt16BigEndian(_buffer[12..]);

    /// <summary>The EtherType of the payload: the one after the tag when tagged, else the one at offset 12.</summary>
    /// <remarks>Setting it on a tagged frame writes the inner EtherType and keeps the tag.</remarks>
    public EtherType EtherType
    {
        readonly get => (EtherType)BinaryPrimitives.ReadUInt16BigEndian(_buffer[(HeaderLength - 2)..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_buffer[(HeaderLength - 2)..], (ushort)value);
    }

    /// <summary>The VLAN tag, or null when untagged. Setting a tag requires the frame already be tagged
    /// (use <see cref="EthernetRepr"/> to lay out a new header).</summary>
    public VlanTag? VlanTag
    {
        readonly get => HasVlanTag ? new VlanTag(BinaryPrimitives.ReadUInt16BigEndian(_buffer[14..])) : null;
        set
        {
            if (!HasVlanTag || value is null) ThrowHelper.OutOfRange(nameof(value));
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[14..], value.Value.TagControlInformation);
        }
    }

    /// <summary>Everything after the header, including any link-layer padding.</summary>
    public readonly Span<byte> Payload => _buffer[HeaderLength..];

    /// <summary>
    /// The frame as one tcpdump-style line (<c>tcpdump -nn -S</c>: absolute sequence numbers, no
    /// timestamp), e.g. <c>IP 198.18.0.2.40000 &gt; 198.18.0.1.7: Flags [S], seq 1, win 64240, length 0</c>.
    /// For relative sequence numbers across a conversation use <see cref="Formatting.TcpdumpFormatter"/>.
    /// </summary>
    public override readonly string ToString() => Formatting.TcpdumpFormatter.FormatStateless(_buffer);
}
