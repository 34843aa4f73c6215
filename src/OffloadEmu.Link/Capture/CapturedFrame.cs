namespace OffloadEmu.Link.Capture;

/// <summary>
/// One frame read from a capture file. <see cref="Data"/> is a slice of the reader's buffer (no copy);
/// it stays valid as long as the buffer the reader was given.
/// </summary>
public readonly struct CapturedFrame
{
    /// <summary>Creates a frame record.</summary>
    public CapturedFrame(long timestampNs, CaptureInterface @interface, CaptureDirection direction, int originalLength, ReadOnlyMemory<byte> data)
    {
        TimestampNs = timestampNs;
        Interface = @interface;
        Direction = direction;
        OriginalLength = originalLength;
        Data = data;
    }

    /// <summary>Capture time in nanoseconds since the Unix epoch (converted from the file's resolution).</summary>
    public long TimestampNs { get; }

    /// <summary>The interface the frame was captured on.</summary>
    public CaptureInterface Interface { get; }

    /// <summary>Index of <see cref="Interface"/> within its section.</summary>
    public int InterfaceIndex => Interface.Index;

    /// <summary>The interface's name, or null when the file does not record one.</summary>
    public string? InterfaceName => Interface.Name;

    /// <summary>Direction from <c>epb_flags</c>, or <see cref="CaptureDirection.Unknown"/>.</summary>
    public CaptureDirection Direction { get; }

    /// <summary>Length of the frame on the wire (may exceed <c>Data.Length</c> when the snap length cut it).</summary>
    public int OriginalLength { get; }

    /// <summary>The captured bytes.</summary>
    public ReadOnlyMemory<byte> Data { get; }
}
