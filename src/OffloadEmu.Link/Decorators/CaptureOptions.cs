using OffloadEmu.Link.Capture;

namespace OffloadEmu.Link.Decorators;

/// <summary>Settings of a <see cref="CaptureDevice"/>.</summary>
public sealed record CaptureOptions
{
    /// <summary>File format; pcapng (with directions and the interface name) by default.</summary>
    public CaptureFormat Format { get; init; } = CaptureFormat.PcapNg;

    /// <summary>
    /// Rotate when the next frame would take the current file past this many bytes (0 = never).
    /// Only for captures opened by path. A file always holds at least one frame, so a single frame
    /// larger than the limit still makes a (too large) file of its own.
    /// </summary>
    public long MaxFileBytes { get; init; }

    /// <summary>Longest time a written frame may sit in the buffer before it reaches the file (default 1 s).</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Bytes kept per frame.</summary>
    public int SnapLength { get; init; } = 262144;

    /// <summary>Size of the write buffer in front of the file.</summary>
    public int BufferSize { get; init; } = 64 * 1024;
}
