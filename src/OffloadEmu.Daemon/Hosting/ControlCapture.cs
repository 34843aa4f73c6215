using OffloadEmu.Control;
using OffloadEmu.Link.Capture;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// Mirrors every control message into the daemon's capture (docs/control.md, "Capture"): the control server's observer
/// wraps each message as an exported PDU (<see cref="ExportedPdu"/>, link type 252, dissector "offloademu") and queues
/// it in a <see cref="CaptureRecordQueue"/> that the capture device writes on an interface of its own, in time order
/// with the wire frames.
/// </summary>
/// <remarks>
/// The observer runs on each session's receive loop and on the thread that writes its socket (docs/control.md). It
/// never waits for the file and allocates nothing per message: the prefix is built on the stack and the message copied
/// into the queue's preallocated buffer. Bulk data is cut (<see cref="ExportedPdu.CaptureLength"/>); a full queue drops
/// the record and counts it (<see cref="CaptureRecordQueue.Dropped"/>, the <c>offloademu.capture.control_messages</c>
/// counter).
/// </remarks>
internal sealed class ControlCapture : IControlMessageObserver
{
    /// <summary>The interface's name in the capture file.</summary>
    internal const string InterfaceName = "offloademu-control";

    /// <summary>Bytes kept of a message without bulk data (a large state tree is cut here).</summary>
    internal const int MessageSnapLength = 16 * 1024;

    /// <summary>Bytes queued at most (two halves: one filling while the other is written).</summary>
    internal const int QueueBytes = 8 * 1024 * 1024;

    private readonly TimeProvider _time;
    private volatile bool _attached;

    public ControlCapture(TimeProvider time)
    {
        _time = time;
        Queue = new CaptureRecordQueue(InterfaceName, ExportedPdu.LinkType, QueueBytes, ExportedPdu.HeaderLength + MessageSnapLength);
    }

    /// <summary>The queue the capture device drains.</summary>
    internal CaptureRecordQueue Queue { get; }

    /// <summary>True while a capture file takes the records (set by the link service).</summary>
    internal bool Attached
    {
        get => _attached;
        set => _attached = value;
    }

    /// <inheritdoc/>
    public int MaxObservedBytes => MessageSnapLength;

    /// <inheritdoc/>
    public void OnMessage(long sessionId, bool fromClient, ReadOnlySpan<byte> message)
    {
        if (!_attached) return;
        Span<byte> head = stackalloc byte[ExportedPdu.HeaderLength];
        ExportedPdu.Wrap(sessionId, fromClient, ReadOnlySpan<byte>.Empty, head);
        int keep = ExportedPdu.CaptureLength(message, MessageSnapLength);
        int original = ExportedPdu.HeaderLength + ExportedPdu.MessageLength(message);
        Queue.TryEnqueue(NowNs(), fromClient ? CaptureDirection.Inbound : CaptureDirection.Outbound, head, message[..keep], original);
    }

    private long NowNs() => (_time.GetUtcNow().UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
}
