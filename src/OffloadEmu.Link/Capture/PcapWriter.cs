using System.Buffers.Binary;

namespace OffloadEmu.Link.Capture;

/// <summary>
/// Writes classic libpcap files with nanosecond timestamps (magic 0xa1b23c4d, version 2.4,
/// LINKTYPE_ETHERNET). The format has one link per file and no direction, so interface names and
/// directions are accepted and dropped; prefer <see cref="PcapNgWriter"/>.
/// </summary>
public sealed class PcapWriter : BufferedCaptureWriter
{
    internal const uint MagicNanoseconds = 0xA1B23C4D;
    internal const uint MagicMicroseconds = 0xA1B2C3D4;

    private readonly int _snapLength;

    /// <summary>Creates the writer and writes the file header.</summary>
    /// <param name="stream">Destination; written sequentially.</param>
    /// <param name="snapLength">Bytes kept per frame.</param>
    /// <param name="leaveOpen">Leave <paramref name="stream"/> open on Dispose.</param>
    /// <param name="bufferSize">Size of the write buffer in front of the stream.</param>
    /// <param name="linkType">LINKTYPE_* of the file (1 = Ethernet).</param>
    public PcapWriter(Stream stream, int snapLength = 262144, bool leaveOpen = false, int bufferSize = 64 * 1024, int linkType = PcapNgWriter.LinkTypeEthernet)
        : base(stream, leaveOpen, bufferSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(snapLength, 1);
        _snapLength = snapLength;
        lock (Gate)
        {
            var h = Reserve(24);
            BinaryPrimitives.WriteUInt32LittleEndian(h, MagicNanoseconds);
            BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 2);
            BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 4);
            // thiszone and sigfigs stay 0, as every modern writer does.
            BinaryPrimitives.WriteInt32LittleEndian(h[16..], snapLength);
            BinaryPrimitives.WriteInt32LittleEndian(h[20..], linkType);
        }
    }

    /// <summary>Classic pcap has a single link: always returns 0 and records nothing.</summary>
    public override int AddInterface(string name) => 0;

    /// <inheritdoc/>
    public override void WriteFrame(int interfaceIndex, long timestampNs, ReadOnlySpan<byte> frame, CaptureDirection direction)
    {
        lock (Gate)
        {
            int captured = Math.Min(frame.Length, _snapLength);
            long seconds = Math.DivRem(timestampNs, 1_000_000_000L, out long nanos);
            if (nanos < 0) { seconds--; nanos += 1_000_000_000L; }
            var h = Reserve(16);
            BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)seconds);
            BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)nanos);
            BinaryPrimitives.WriteInt32LittleEndian(h[8..], captured);
            BinaryPrimitives.WriteInt32LittleEndian(h[12..], frame.Length);
            Append(frame[..captured]);
        }
    }
}
