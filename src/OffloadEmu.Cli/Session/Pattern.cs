namespace OffloadEmu.Cli.Session;

/// <summary>
/// The deterministic byte stream of <c>--send-bytes</c> and <c>--source</c>: byte i is byte (i mod 8) of
/// SplitMix64(seed + i/8), so any offset can be generated or checked without keeping the stream.
/// </summary>
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
        for (int i = 0; i < destination.Length; i++) destination[i] = At(_offset + i);
        _offset += destination.Length;
    }

    /// <summary>Checks the next bytes of the stream; returns the stream offset of the first difference, or -1.</summary>
    public long Check(ReadOnlySpan<byte> received)
    {
        long first = -1;
        for (int i = 0; i < received.Length; i++)
        {
            if (received[i] != At(_offset + i))
            {
                first = _offset + i;
                break;
            }
        }
        _offset += received.Length;
        return first;
    }

    private byte At(long offset)
    {
        ulong z = _seed + (ulong)(offset >> 3) * 0x9E37_79B9_7F4A_7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        z ^= z >> 31;
        return (byte)(z >> (int)((offset & 7) * 8));
    }
}
