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
        engine.WriteHeaders(c, frame.Array, length);
        engine.CountOutSegment(c, tcp);
        frame.Length = _headerLength + length;
        _frame = null;
        engine.QueueOut(frame);
    }
}
