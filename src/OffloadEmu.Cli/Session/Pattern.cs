using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// The deterministic byte stream of <c>--send-bytes</c> and <c>--source</c>: byte i is byte (i mod 8) of
/// SplitMix64(seed + i/8), so any offset can be generated or checked without keeping the stream.
/// </summary>
/// <remarks>
/// Byte (i mod 8) of the word is its little-endian byte, so whole words are written and compared eight bytes at a time
/// (one SplitMix64 per word instead of one per byte: the per-byte form cost the sender thread ~5 ns a byte, a fifth of
/// the CPU of a 1 Gb/s transfer), and four words at a time with Vector256 where it is accelerated: the word-at-a-time
/// form made about 1 GB/s, a quarter of a core at 2.5 Gb/s; four lanes make about 7 GB/s (docs/performance.md,
/// "Default-mode CPU per frame").
/// </remarks>
internal sealed class Pattern
{
    /// <summary>The seed both ends use unless told otherwise.</summary>
    public const ulong DefaultSeed = 0x4F45_6D75_4563_686FUL;   // "OEmuEcho"

    private readonly ulong _seed;
    private long _offset;

    public Pattern(ulong seed = DefaultSeed) => _seed = seed;

    /// <summary>Bytes produced or checked so far.</summary>
    public long Offset => _offset;

    /// <summary>Writes the next <c>destination.Length</c> bytes of the stream.</summary>
    public void Fill(Span<byte> destination)
    {
        long offset = _offset;
        int i = 0;
        // Head up to a word boundary, whole words, then the tail.
        for (; i < destination.Length && ((offset + i) & 7) != 0; i++) destination[i] = At(offset + i);
        int words = (destination.Length - i) >> 3;
        if (words >= VectorWords && BitConverter.IsLittleEndian && Vector256.IsHardwareAccelerated)
        {
            // Whole vectors of words straight into the destination (unaligned stores; the stream's word boundary is
            // what matters, not the memory's).
            int vectors = words / VectorWords;
            var out64 = MemoryMarshal.Cast<byte, ulong>(destination.Slice(i, vectors * VectorWords * 8));
            FillWords(out64, (offset + i) >> 3);
            i += vectors * VectorWords * 8;
        }
        for (; i + 8 <= destination.Length; i += 8)
            BinaryPrimitives.WriteUInt64LittleEndian(destination[i..], Word((offset + i) >> 3));
        for (; i < destination.Length; i++) destination[i] = At(offset + i);
        _offset = offset + destination.Length;
    }

    /// <summary>Checks the next bytes of the stream; returns the stream offset of the first difference, or -1.</summary>
    public long Check(ReadOnlySpan<byte> received)
    {
        long offset = _offset;
        _offset = offset + received.Length;
        int i = 0;
        for (; i < received.Length && ((offset + i) & 7) != 0; i++)
            if (received[i] != At(offset + i)) return offset + i;
        if (BitConverter.IsLittleEndian && Vector256.IsHardwareAccelerated)
        {
            // Whole vectors compared at once; a vector that differs is left to the word and byte loops below, which
            // find the first differing byte.
            Span<ulong> expected = stackalloc ulong[VectorWords];
            for (; i + VectorWords * 8 <= received.Length; i += VectorWords * 8)
            {
                FillWords(expected, (offset + i) >> 3);
                var got = Vector256.Create(MemoryMarshal.Cast<byte, ulong>(received.Slice(i, VectorWords * 8)));
                if (got != Vector256.Create((ReadOnlySpan<ulong>)expected)) break;
            }
        }
        for (; i + 8 <= received.Length; i += 8)
        {
            if (BinaryPrimitives.ReadUInt64LittleEndian(received[i..]) == Word((offset + i) >> 3)) continue;
            for (int j = i; ; j++)
                if (received[j] != At(offset + j)) return offset + j;
        }
        for (; i < received.Length; i++)
            if (received[i] != At(offset + i)) return offset + i;
        return -1;
    }

    private const int VectorWords = 4; // Vector256<ulong>
    private const ulong Gamma = 0x9E37_79B9_7F4A_7C15UL;

    // Words firstIndex, firstIndex + 1, ... into words (a whole number of vectors): SplitMix64 in four lanes. The lanes'
    // inputs seed + index * gamma advance by 4 * gamma per vector (wrapping, like the scalar form).
    private void FillWords(Span<ulong> words, long firstIndex)
    {
        var z = Vector256.Create(_seed + (ulong)firstIndex * Gamma) + Vector256.Create(0UL, Gamma, unchecked(2 * Gamma), unchecked(3 * Gamma));
        var step = Vector256.Create(unchecked(4 * Gamma));
        var m1 = Vector256.Create(0xBF58_476D_1CE4_E5B9UL);
        var m2 = Vector256.Create(0x94D0_49BB_1331_11EBUL);
        ref ulong destination = ref MemoryMarshal.GetReference(words);
        for (int i = 0; i + VectorWords <= words.Length; i += VectorWords)
        {
            var x = z;
            z += step;
            x = (x ^ (x >>> 30)) * m1;
            x = (x ^ (x >>> 27)) * m2;
            x ^= x >>> 31;
            x.StoreUnsafe(ref destination, (nuint)i);
        }
    }

    private byte At(long offset) => (byte)(Word(offset >> 3) >> (int)((offset & 7) * 8));

    private ulong Word(long index)
    {
        ulong z = _seed + (ulong)index * Gamma;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }
}
