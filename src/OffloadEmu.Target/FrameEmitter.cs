using OffloadEmu.Link;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Target;

/// <summary>
/// Where a connection's machine writes its segments: a pooled frame with room for the Ethernet and IP headers in front,
/// which <see cref="Commit"/> fills in before queuing the frame for transmission. Allocates nothing.
/// </summary>
/// <remarks>RST segments are dropped unless the host asked for the abortive disconnect: spec §6.1, "the only RST a target
/// may originate".</remarks>
internal sealed class FrameEmitter(TargetEngine engine) : ITcpSegmentWriter
{
    private TcpConnection? _connection;
    private FrameBuffer? _frame;
    private int _headerLength;

    public void Begin(TcpConnection connection)
    {
        _connection = connection;
        _headerLength = connection.HeaderLength;
    }

    public void End()
    {
        if (_frame is { } unused) engine.FramePool.Return(unused);
        _frame = null;
        _connection = null;
    }

    public Span<byte> GetBuffer(int length)
    {
        if (_connection is null) return default;
        _frame ??= engine.FramePool.Rent();
        if (_headerLength + length > _frame.Array.Length) return default;
        return _frame.Array.AsSpan(_headerLength, length);
    }

    public void Commit(int length)
    {
        var c = _connection!;
        var frame = _frame!;
        var tcp = frame.Array.AsSpan(_headerLength, length);
        var flags = (TcpFlags)tcp[13];
        if ((flags & TcpFlags.Rst) != 0 && !c.ResetAllowed)
        {
            Interlocked.Increment(ref engine.SuppressedResets);
            return; // keep the buffer for the next segment
        }
        var m = c.Machine;
        int gsoSize = m.CommittingSegmentSize;
        int tcpHeaderLength = (tcp[12] >> 4) * 4;
        int payload = length - tcpHeaderLength;
        int segments = gsoSize > 0 && payload > gsoSize ? (payload + gsoSize - 1) / gsoSize : 1;
        engine.WriteHeaders(c, frame.Array, length, segments, tcpHeaderLength);
        engine.CountOutSegment(c, tcp, segments);
        frame.Length = _headerLength + length;
        if (m.PartialChecksum)
        {
            // Segmentation offload (virtio-net header): the kernel completes the TCP checksum and, for a super-segment,
            // cuts the payload into gso_size pieces (FIN/PSH on the last, CWR on the first, IPv4 IDs counting up).
            var gso = segments == 1 ? VirtioNetGsoType.None
                : (c.IsIpv6 ? VirtioNetGsoType.TcpV6 : VirtioNetGsoType.TcpV4) | ((tcp[13] & (byte)TcpFlags.Cwr) != 0 ? VirtioNetGsoType.Ecn : 0);
            frame.Offload = new VirtioNetHeader
            {
                Flags = VirtioNetHeaderFlags.NeedsChecksum,
                GsoType = gso,
                HeaderLength = segments == 1 ? (ushort)0 : (ushort)(_headerLength + tcpHeaderLength),
                GsoSize = segments == 1 ? (ushort)0 : (ushort)gsoSize,
                ChecksumStart = (ushort)_headerLength,
                ChecksumOffset = VirtioNetHeader.TcpChecksumOffset,
            };
            if (segments > 1) engine.SuperFramesOut++;
        }
        _frame = null;
        engine.QueueOut(frame);
    }
}
