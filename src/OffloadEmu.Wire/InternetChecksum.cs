using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
    /// <remarks>Uses 256-bit vectors when the hardware accelerates them and the span is long enough
    /// to amortise the horizontal reduction; the result is congruent (mod 0xFFFF) either way, so
    /// <see cref="Fold"/> gives the same value.</remarks>
    public static ulong Accumulate(ReadOnlySpan<byte> data, ulong sum = 0)
        => Vector256.IsHardwareAccelerated && data.Length >= VectorThreshold ? AccumulateVector(data, sum) : AccumulateScalar(data, sum);

    // Below this the vector setup and reduction cost more than the scalar loop saves.
    private const int VectorThreshold = 64;

    /// <summary>Vector path: sums 32-byte blocks as native-order 32-bit lanes widened into 64-bit lanes,
    /// then the tail with the scalar path.</summary>
    /// <remarks>RFC 1071 §2(B): the one's-complement sum is byte-order independent, so summing words in
    /// the machine's order and swapping the bytes of the folded result equals the big-endian sum.
    /// Widening to 64 bits means no carry is lost for any span a <see cref="Span{T}"/> can hold.
    /// Blocks start at even offsets of <paramref name="data"/>, so the scalar tail keeps its word alignment.</remarks>
    internal static ulong AccumulateVector(ReadOnlySpan<byte> data, ulong sum)
    {
        int blocks = data.Length / Vector256<byte>.Count;
        if (blocks == 0) return AccumulateScalar(data, sum);
        ref byte start = ref MemoryMarshal.GetReference(data);
        var acc0 = Vector256<ulong>.Zero;
        var acc1 = Vector256<ulong>.Zero;
        int offset = 0;
        int end = blocks * Vector256<byte>.Count;
        // Two independent accumulators keep two widen/add chains in flight.
        for (; offset + 2 * Vector256<byte>.Count <= end; offset += 2 * Vector256<byte>.Count)
        {
            var a = Vector256.LoadUnsafe(ref start, (nuint)offset).AsUInt32();
            var b = Vector256.LoadUnsafe(ref start, (nuint)(offset + Vector256<byte>.Count)).AsUInt32();
            var (aLow, aHigh) = Vector256.Widen(a);
            var (bLow, bHigh) = Vector256.Widen(b);
            acc0 += aLow + aHigh;
            acc1 += bLow + bHigh;
        }
        if (offset < end)
        {
            var (low, high) = Vector256.Widen(Vector256.LoadUnsafe(ref start, (nuint)offset).AsUInt32());
            acc0 += low + high;
            offset += Vector256<byte>.Count;
        }
        ulong native = Vector256.Sum(acc0) + Vector256.Sum(acc1);
        // At most 2^29 words below 2^32 each: the 64-bit total cannot wrap, so folding is exact mod 0xFFFF.
        ushort folded = Fold(native);
        if (BitConverter.IsLittleEndian) folded = BinaryPrimitives.ReverseEndianness(folded);
        return AccumulateScalar(data[offset..], sum + folded);
    }

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
