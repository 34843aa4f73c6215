using System.Globalization;

namespace OffloadEmu.Link.Decorators;

/// <summary>The default formatter: the length and the first bytes in hex, e.g. <c>60 B: ff ff ff ff ff ff 02 00 ...</c>.</summary>
public sealed class HexFrameFormatter : IFrameFormatter
{
    /// <summary>A formatter showing the first 32 bytes (Ethernet header plus the start of the IP header).</summary>
    public static HexFrameFormatter Default { get; } = new(32);

    private const int MaxShown = 1024;
    private readonly int _maxBytes;

    /// <summary>Creates a formatter that shows at most <paramref name="maxBytes"/> bytes (up to 1024).</summary>
    public HexFrameFormatter(int maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxBytes, MaxShown);
        _maxBytes = maxBytes;
    }

    /// <inheritdoc/>
    public string Format(ReadOnlySpan<byte> frame)
    {
        const string hex = "0123456789abcdef";
        int shown = Math.Min(frame.Length, _maxBytes);
        // Only called when tracing is on; the one allocation is the returned string.
        Span<char> text = stackalloc char[16 + shown * 3 + 4];
        frame.Length.TryFormat(text, out int at, default, CultureInfo.InvariantCulture);
        " B:".AsSpan().CopyTo(text[at..]);
        at += 3;
        for (int i = 0; i < shown; i++)
        {
            text[at++] = ' ';
            text[at++] = hex[frame[i] >> 4];
            text[at++] = hex[frame[i] & 0xF];
        }
        if (shown < frame.Length)
        {
            " ...".AsSpan().CopyTo(text[at..]);
            at += 4;
        }
        return new string(text[..at]);
    }
}
