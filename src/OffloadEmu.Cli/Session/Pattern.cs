using System.Buffers.Binary;
using System.Runtime.CompilerServices;
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
/// the CPU of a 1 Gb/s transfer).
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
        if (Vector512.IsHardwareAccelerated && BitConverter.IsLittleEndian) i = FillVector512(destination, offset, i);
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

    // Eight words (64 bytes) per step, one SplitMix64 per lane: the same bytes as Word, several times faster (the scalar
    // loop was a third of the sending CLI's CPU at 4 Gb/s with segmentation offload). Returns where the scalar loop goes on.
    private int FillVector512(Span<byte> destination, long offset, int i)
    {
        var lanes = Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
        var golden = Vector512.Create(0x9E37_79B9_7F4A_7C15UL);
        var m1 = Vector512.Create(0xBF58_476D_1CE4_E5B9UL);
        var m2 = Vector512.Create(0x94D0_49BB_1331_11EBUL);
        var seed = Vector512.Create(_seed);
        ref byte start = ref MemoryMarshal.GetReference(destination);
        for (; i + 64 <= destination.Length; i += 64)
        {
            var index = Vector512.Create((ulong)((offset + i) >> 3)) + lanes;
            var z = seed + index * golden;
            z = (z ^ Vector512.ShiftRightLogical(z, 30)) * m1;
            z = (z ^ Vector512.ShiftRightLogical(z, 27)) * m2;
            z ^= Vector512.ShiftRightLogical(z, 31);
            z.StoreUnsafe(ref Unsafe.As<byte, ulong>(ref Unsafe.Add(ref start, i)));
        }
        return i;
    }

    private byte At(long offset) => (byte)(Word(offset >> 3) >> (int)((offset & 7) * 8));

    private ulong Word(long index)
    {
        ulong z = _seed + (ulong)index * 0x9E37_79B9_7F4A_7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }
}
