using OffloadEmu.Wire.Formatting;

namespace OffloadEmu.Link.Decorators;

/// <summary>
/// The tracer's default formatter: <c>tcpdump -nn</c> lines from <see cref="TcpdumpFormatter"/>,
/// with relative TCP sequence numbers per conversation. Safe to share between a receive and a send thread.
/// </summary>
public sealed class TcpdumpFrameFormatter : IFrameFormatter
{
    private readonly TcpdumpFormatter _formatter;
    private readonly Lock _lock = new();

    /// <summary>Creates a formatter; <paramref name="relativeSequenceNumbers"/> false prints absolute numbers (tcpdump -S).</summary>
    public TcpdumpFrameFormatter(bool relativeSequenceNumbers = true) => _formatter = new TcpdumpFormatter(relativeSequenceNumbers);

    /// <inheritdoc/>
    public string Format(ReadOnlySpan<byte> frame)
    {
        // The formatter keeps per-conversation state, so the two directions take turns.
        lock (_lock) return _formatter.Format(frame);
    }
}
