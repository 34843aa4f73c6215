using OffloadEmu.Wire;

namespace OffloadEmu.Link;

/// <summary>
/// One frame in a fixed-size pooled buffer. Devices fill it on receive; senders fill it before send.
/// It has one owner at a time and one release point: <see cref="FramePool.Return"/>.
/// </summary>
public sealed class FrameBuffer
{
    internal FrameBuffer(int capacity) => Array = new byte[capacity];

    /// <summary>The backing array; valid bytes are [0, <see cref="Length"/>).</summary>
    public byte[] Array { get; }

    /// <summary>Number of valid bytes.</summary>
    public int Length { get; set; }

    /// <summary>When the frame was received (or queued for send), in nanoseconds since the Unix epoch.</summary>
    public long TimestampNs { get; set; }

    /// <summary>
    /// The frame's offload metadata (a value, no allocation): on receive what a segmentation-offload device reported (gso
    /// size and type of a super-frame, checksum partial or validated), on send what the sender asks the device to do.
    /// <see cref="VirtioNetHeader.None"/> (fully checksummed, wire-sized) unless a device with
    /// <see cref="ChecksumCapabilities.SegmentationOffload"/> is involved; reset when the buffer is rented.
    /// </summary>
    public VirtioNetHeader Offload { get; set; }

    /// <summary>The whole buffer, for writing a frame into.</summary>
    public Span<byte> Capacity => Array;

    /// <summary>The valid bytes.</summary>
    public Span<byte> Span => Array.AsSpan(0, Length);

    /// <summary>The valid bytes as memory.</summary>
    public Memory<byte> Memory => Array.AsMemory(0, Length);

    /// <summary>The pool the buffer goes back to (null if not pooled).</summary>
    internal FramePool? Pool { get; set; }
}
