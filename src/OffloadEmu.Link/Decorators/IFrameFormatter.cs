namespace OffloadEmu.Link.Decorators;

/// <summary>Turns a frame into one line of text for the <see cref="TracingDevice"/> (a tcpdump-style formatter plugs in here).</summary>
public interface IFrameFormatter
{
    /// <summary>Describes <paramref name="frame"/> (destination MAC first) on one line.</summary>
    string Format(ReadOnlySpan<byte> frame);
}
