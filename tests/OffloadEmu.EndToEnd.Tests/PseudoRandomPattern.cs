namespace OffloadEmu.EndToEnd.Tests;

/// <summary>A deterministic byte stream (xorshift64*) so a large transfer needs no stored copy of what was sent.</summary>
internal sealed class PseudoRandomPattern
{
    private ulong _state;

    internal PseudoRandomPattern(ulong seed) => _state = seed == 0 ? 0x9E3779B97F4A7C15UL : seed;

    /// <summary>Fills <paramref name="destination"/> with the next bytes of the stream.</summary>
    internal void Fill(Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            _state ^= _state >> 12;
            _state ^= _state << 25;
            _state ^= _state >> 27;
            destination[i] = (byte)((_state * 0x2545F4914F6CDD1DUL) >> 56);
        }
    }
}
