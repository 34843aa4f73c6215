namespace OffloadEmu.Link.Capture;

/// <summary>
/// Something that writes frames to a capture file. Implementations are thread-safe (a lock per writer)
/// because a capture decorator writes from the receive thread and the send thread.
/// </summary>
public interface ICaptureWriter : IDisposable
{
    /// <summary>Declares an interface and returns the index to pass to <see cref="WriteFrame"/>.</summary>
    /// <param name="name">Interface name recorded in the file (pcapng <c>if_name</c>; ignored by classic pcap).</param>
    int AddInterface(string name);

    /// <summary>Appends one frame. Bytes beyond the snap length are cut off; the original length is kept.</summary>
    /// <param name="interfaceIndex">A value returned by <see cref="AddInterface"/>.</param>
    /// <param name="timestampNs">Nanoseconds since the Unix epoch.</param>
    /// <param name="frame">The frame, destination MAC first.</param>
    /// <param name="direction">Direction flag (dropped by formats that cannot hold it).</param>
    void WriteFrame(int interfaceIndex, long timestampNs, ReadOnlySpan<byte> frame, CaptureDirection direction);

    /// <summary>Writes buffered bytes to the stream and flushes the stream.</summary>
    void Flush();

    /// <summary>Bytes produced so far, buffered or not (the file size once flushed).</summary>
    long BytesWritten { get; }
}
