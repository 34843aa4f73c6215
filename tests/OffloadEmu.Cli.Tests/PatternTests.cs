using OffloadEmu.Cli.Session;

namespace OffloadEmu.Cli.Tests;

/// <summary>The --send-bytes stream: word-at-a-time generation must give exactly the documented per-byte stream at any
/// split of the calls (peers such as scripts/demo-peer.py check it byte by byte).</summary>
public sealed class PatternTests
{
    // The definition in the docs: byte i is byte (i mod 8) of SplitMix64(seed + i/8).
    private static byte Reference(ulong seed, long i)
    {
        ulong z = seed + (ulong)(i >> 3) * 0x9E37_79B9_7F4A_7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        z ^= z >> 31;
        return (byte)(z >> (int)((i & 7) * 8));
    }

    [Theory]
    [InlineData(Pattern.DefaultSeed, 1)]
    [InlineData(12345UL, 2)]
    public void Fill_in_uneven_pieces_gives_the_per_byte_stream(ulong seed, int rngSeed)
    {
        var rng = new Random(rngSeed);
        var pattern = new Pattern(seed);
        var all = new byte[20_000];
        int at = 0;
        while (at < all.Length)
        {
            int n = Math.Min(all.Length - at, rng.Next(0, 40));
            pattern.Fill(all.AsSpan(at, n));
            at += n;
        }
        Assert.Equal(all.Length, pattern.Offset);
        for (int i = 0; i < all.Length; i++)
            Assert.True(Reference(seed, i) == all[i], $"byte {i}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void Fill_in_large_pieces_at_any_alignment_gives_the_per_byte_stream(int lead)
    {
        var pattern = new Pattern(777UL);
        var all = new byte[300_000];
        pattern.Fill(all.AsSpan(0, lead));
        int at = lead;
        foreach (int n in new[] { 64, 65, 127, 4096, 100_003, 1, 63 })
        {
            pattern.Fill(all.AsSpan(at, n));
            at += n;
        }
        pattern.Fill(all.AsSpan(at));
        for (int i = 0; i < all.Length; i++)
            Assert.True(Reference(777UL, i) == all[i], $"byte {i}");
    }

    [Fact]
    public void Check_finds_the_first_difference_in_any_piece()
    {
        var data = new byte[10_000];
        new Pattern().Fill(data);
        var rng = new Random(3);
        foreach (int bad in new[] { 0, 5, 8, 4_099, 9_999 })
        {
            var copy = (byte[])data.Clone();
            copy[bad] ^= 0x40;
            var check = new Pattern();
            long first = -1;
            int at = 0;
            while (at < copy.Length)
            {
                int n = Math.Min(copy.Length - at, rng.Next(1, 3000));
                long r = check.Check(copy.AsSpan(at, n));
                if (first < 0) first = r;
                at += n;
            }
            Assert.Equal(bad, first);
            Assert.Equal(copy.Length, check.Offset);
        }
        Assert.Equal(-1, new Pattern().Check(data));
    }
}
