using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>
/// The Internet checksum (RFC 1071): one's-complement sum of big-endian 16-bit words, with the
/// IPv4 and IPv6 pseudo-headers used by TCP/UDP/ICMPv6 and the incremental update of RFC 1624.
/// </summary>
/// <remarks>
/// Partial sums are carried as <see cref="ulong"/> accumulators so callers can add pieces
/// (pseudo-header, header, payload chain) and fold once at the end. A piece that starts at an
/// odd offset of the whole must be summed with <see cref="Accumulate(ReadOnlySpan{byte}, ulong)"/>
/// on a byte-swapped basis by the caller; all producers here sum even-aligned pieces.
/// </remarks>
public static partial class InternetChecksum
{
    /// <summary>Adds the big-endian 16-bit words of <paramref name="data"/> to <paramref name="sum"/>
    /// (an odd trailing byte is padded with zero).</summary>
    public static ulong Accumulate(ReadOnlySpan<byte> data, ulong sum = 0) => AccumulateScalar(data, sum);

    /// <summary>Portable scalar path: 32-bit big-endian loads into a 64-bit accumulator.</summary>
    internal static ulong AccumulateScalar(ReadOnlySpan<byte> data, ulong sum)
    {
        int i = 0;
        for (; i + 4 <= data.Length; i += 4) sum += BinaryPrimitives.ReadUInt32BigEndian(data[i..]);
        if (i + 2 <= data.Length) { sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]); i += 2; }
        if (i < data.Length) sum += (ulong)data[i] << 8;
        return sum;
    }

    /// <summary>Folds an accumulator to 16 bits (not complemented).</summary>
    public static ushort Fold(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    /// <summary>Folds and complements: the value to place in a checksum field.</summary>
    public static ushort Finish(ulong sum) => (ushort)~Fold(sum);

    /// <summary>The checksum field value for <paramref name="data"/> alone (e.g. an IPv4 header with its checksum zeroed).</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Accumulate(data));

    /// <summary>True when data that includes its own checksum field sums to 0xFFFF.</summary>
    public static bool IsValid(ReadOnlySpan<byte> data, ulong initial = 0) => Fold(Accumulate(data, initial)) == 0xFFFF;

    /// <summary>The IPv4 pseudo-header sum (RFC 9293 §3.1): source, destination, zero, protocol, upper-layer length.</summary>
    public static ulong PseudoHeader(Ipv4Address source, Ipv4Address destination, IpProtocol protocol, int upperLayerLength)
        => (ulong)(source.Value >> 16) + (source.Value & 0xFFFF) + (destination.Value >> 16) + (destination.Value & 0xFFFF)
           + (ulong)(byte)protocol + (ulong)(uint)upperLayerLength;

    /// <summary>The IPv6 pseudo-header sum (RFC 8200 §8.1).</summary>
    public static ulong PseudoHeader(Ipv6Address source, Ipv6Address destination, IpProtocol protocol, int upperLayerLength)
        => SumWords(source.High) + SumWords(source.Low) + SumWords(destination.High) + SumWords(destination.Low)
           + (ulong)(uint)upperLayerLength + (ulong)(byte)protocol;

    private static ulong SumWords(ulong v) => (v >> 48) + ((v >> 32) & 0xFFFF) + ((v >> 16) & 0xFFFF) + (v & 0xFFFF);

    /// <summary>RFC 1624 eqn. 3: the new checksum field after one 16-bit word changed from <paramref name="oldWord"/> to <paramref name="newWord"/>.</summary>
    public static ushort Update(ushort checksum, ushort oldWord, ushort newWord)
        => (ushort)~Fold((ulong)(ushort)~checksum + (ushort)~oldWord + newWord);

    /// <summary>RFC 1624 for a 32-bit field (e.g. a sequence number or an IPv4 address).</summary>
    public static ushort Update(ushort checksum, uint oldValue, uint newValue)
        => (ushort)~Fold((ulong)(ushort)~checksum + (ushort)~(oldValue >> 16) + (ushort)~oldValue + (newValue >> 16) + (newValue & 0xFFFF));
}
