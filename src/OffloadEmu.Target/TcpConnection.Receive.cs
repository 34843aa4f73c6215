using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;

namespace OffloadEmu.Target;

internal sealed partial class TcpConnection
{
    private readonly Queue<NetBufferList> _posts = new();
    private NetBufferList? _receiveDoneHead;
    private NetBufferList? _receiveDoneTail;
    private bool _indicationOutstanding;
    private bool _indicationsBlocked;
    private bool _pushPending;
    private Instant _pushAt = Instant.MaxValue;
    private bool _peerFinSeen;
    private bool _disconnectIndicated;
    private Instant _now;

    /// <summary>When the push timer fires (Instant.MaxValue = off).</summary>
    public Instant PushAt => _pushAt;

    /// <summary>An indication is with the host, waiting for its answer: deliveries queue behind it (spec §3 (a)).</summary>
    public bool IndicationOutstanding => _indicationOutstanding;

    /// <summary>Receive posts waiting for data.</summary>
    public int PendingPosts => _posts.Count;

    /// <summary>A segment carrying PSH delivered data (push mode completes a partly filled post, spec §3).</summary>
    public void NotePush() => _pushPending = true;

    /// <summary>Takes one receive post (spec §3): queued FIFO, or completed at once with a failure status.</summary>
    public void Post(NetBufferList nbl, Instant now)
    {
        _now = now;
        nbl.TcpOffloadBytesTransferred = 0;
        var refusal = RefusalStatus();
        if (refusal == NdisStatus.Success && _disconnectIndicated) refusal = NdisStatus.InvalidState;
        if (refusal != NdisStatus.Success)
        {
            CompletePost(nbl, refusal);
            return;
        }
        _posts.Enqueue(nbl);
        NotePosted();
        NoteActivity(now);
        _indicationsBlocked = false; // any post, zero-byte included, re-arms indications
        MarkDirty();
    }

    // Spec §3: the post's data window is its free space (bytes the host pre-filled lie before it); every byte placed
    // advances the start past it (NdisAdvanceNetBufferDataStart), so the window left is the room left and the next byte
    // goes to its start.
    private static int Room(NetBufferList nbl) => (int)Math.Min(int.MaxValue, nbl.DataLength);

    // The post holds data for the host: bytes it pre-filled or bytes placed here (push mode completes it on PSH or timer).
    private static bool HoldsData(NetBufferList nbl) => nbl.TcpReceiveBytesTransferred > 0 || nbl.TcpOffloadBytesTransferred > 0;

    private void CompletePost(NetBufferList nbl, NdisStatus status)
    {
        nbl.Status = status;
        nbl.Next = null;
        NetBufferListChain.Append(ref _receiveDoneHead, ref _receiveDoneTail, nbl);
    }

    private void CompleteHeadPost()
    {
        CompletePost(_posts.Dequeue(), NdisStatus.Success);
        _pushAt = Instant.MaxValue;
    }

    // Called by the machine with in-order bytes (straight from the segment when nothing is buffered): fill posts.
    private int FillPosts(ReadOnlySpan<byte> data)
    {
        if (_indicationOutstanding || Terminating is not null || HardwareFailed) return 0;
        int taken = 0;
        while (taken < data.Length && _posts.TryPeek(out var post))
        {
            int room = Room(post);
            if (room == 0)
            {
                CompleteHeadPost();
                continue;
            }
            int n = Math.Min(room, data.Length - taken);
            post.CopyFrom(0, data.Slice(taken, n));
            AdvanceBuffers(post, n);
            post.TcpOffloadBytesTransferred += n;
            taken += n;
            if (n == room)
            {
                CompleteHeadPost();
            }
            else if (!post.TcpReceiveNoPush)
            {
                _pushAt = _now + _engine.PushInterval; // started by the first byte, restarted by new data
            }
        }
        return taken;
    }

    /// <summary>The delivery algorithm of spec §3, run to completion: posts first, then one indication at a time; the
    /// peer's FIN is indicated only once everything before it was consumed.</summary>
    public void Deliver(Instant now)
    {
        _now = now;
        if (_indicationOutstanding || Terminating is not null || HardwareFailed) return;
        var m = Machine;
        // Zero-byte posts at the head complete at once (they consume nothing).
        while (_posts.TryPeek(out var head) && Room(head) == 0) CompleteHeadPost();
        if (_posts.Count > 0 && m.ReceiveBufferedBytes > 0) m.DeliverBuffered();
        if (_posts.TryPeek(out var partial) && !partial.TcpReceiveNoPush)
        {
            bool hasData = HoldsData(partial);
            if (hasData && _pushPending && m.ReceiveBufferedBytes == 0)
            {
                CompleteHeadPost(); // PSH: complete the partly filled buffer now
            }
            else
            {
                // A pre-filled post starts the timer at once (spec §3).
                if (_pushAt == Instant.MaxValue && hasData) _pushAt = now + _engine.PushInterval;
                if (_pushAt <= now && hasData) CompleteHeadPost();
            }
        }
        else if (_posts.Count == 0)
        {
            _pushAt = Instant.MaxValue;
        }
        if (m.ReceiveBufferedBytes == 0) _pushPending = false;
        if (_posts.Count == 0 && m.ReceiveBufferedBytes > 0 && !_indicationsBlocked && InitiateCompleted && !UrgentHold)
        {
            StartIndication();
            return;
        }
        if (_peerFinSeen && !_disconnectIndicated && m.ReceiveBufferedBytes == 0 && InitiateCompleted)
        {
            _disconnectIndicated = true;
            // Spec §6.2: the disconnect follows the data before the FIN, including bytes sitting in a partly filled post
            // (no PSH, push timer not yet fired): complete it first, or the host sees end of stream before those bytes.
            if (_posts.TryPeek(out var partlyFilled) && HoldsData(partlyFilled)) CompleteHeadPost();
            FlushReceiveCompletions();
            _engine.PostEvent(this, TcpOffloadEventType.Disconnect, 0);
        }
    }

    private void StartIndication()
    {
        int size = Cached.RcvIndicationSize != 0 ? (int)Math.Min(Cached.RcvIndicationSize, int.MaxValue) : _engine.Options.MaxIndicationSize;
        int length = Math.Min(Machine.ReceiveBufferedBytes, size);
        NoteIndication();
        var buffer = _engine.IndicationBuffers.Rent();
        var span = buffer.Prepare(length);
        Machine.PeekReceived(0, span);
        buffer.Connection = this;
        _indicationOutstanding = true;
        FlushReceiveCompletions(); // the posts holding earlier bytes reach the host before the indication (stream order)
        _engine.ScheduleIndication(buffer);
    }

    /// <summary>The host's answer came back (spec §3): accepted bytes leave the buffer (the window opens); a refusal or a
    /// partial acceptance stops indications until the next post.</summary>
    public void OnIndicationAnswered(NdisStatus status, int bytesTaken)
    {
        _indicationOutstanding = false;
        if (bytesTaken > 0)
        {
            Machine.ConsumeReceived(Math.Min(bytesTaken, Machine.ReceiveBufferedBytes));
        }
        if (status != NdisStatus.Success) _indicationsBlocked = true;
        MarkDirty();
    }

    // Reset or abort: REQUEST_ABORTED, still reporting the valid bytes placed (spec §3).
    private void FailPosts(NdisStatus status)
    {
        while (_posts.TryDequeue(out var post)) CompletePost(post, status);
        _pushAt = Instant.MaxValue;
    }

    // Terminate: a post holding data completes SUCCESS with what it has (the bytes were delivered); empty ones
    // complete with the upload status (docs/target.md).
    private void FailPostsAtUpload(NdisStatus status)
    {
        while (_posts.TryDequeue(out var post)) CompletePost(post, post.TcpOffloadBytesTransferred > 0 ? NdisStatus.Success : status);
        _pushAt = Instant.MaxValue;
    }

    /// <summary>The current instant, set by the engine before it feeds the machine (the machine may call back into the
    /// post consumer during input).</summary>
    public void SetNow(Instant now) => _now = now;

    /// <summary>Terminate: the bytes still held (acknowledged, never delivered) as a BufferedData NBL, or null.</summary>
    public NetBufferList? TakeBufferedData()
    {
        int count = Machine.ReceiveBufferedBytes;
        if (count == 0) return null;
        var buffer = _engine.IndicationBuffers.Rent();
        var span = buffer.Prepare(count);
        Machine.PeekReceived(0, span);
        Machine.ConsumeReceived(count);
        buffer.HeldByHost = true;
        return buffer.Nbl;
    }

    // The machine's receive consumer: in-order bytes go straight into the posts (the connection is its own consumer, no
    // object per connection for it).
    int ITcpReceiveConsumer.Deliver(ReadOnlySpan<byte> data) => FillPosts(data);
}
