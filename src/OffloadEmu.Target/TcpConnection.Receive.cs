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
    // Held bytes (the machine's ReceiveHeldBytes): the outstanding indication's first _indicatedHeld bytes, then _staged.
    private ReceiveStaging? _staged;
    private IndicationBuffer? _indicated;
    private int _indicatedHeld;

    /// <summary>When the push timer fires (Instant.MaxValue = off).</summary>
    public Instant PushAt => _pushAt;

    /// <summary>An indication is with the host, waiting for its answer: deliveries queue behind it (spec §3 (a)).</summary>
    public bool IndicationOutstanding => _indicationOutstanding;

    /// <summary>The host refused (or took part of) an indication: none until it posts (spec §3).</summary>
    public bool IndicationsBlocked => _indicationsBlocked;

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

    // Called by the machine with in-order bytes (straight from the segment when nothing is buffered): fill posts. Not
    // while older bytes are held (they go first: Deliver).
    private int FillPosts(ReadOnlySpan<byte> data)
    {
        if (_indicationOutstanding || Terminating is not null || HardwareFailed || Machine.ReceiveHeldBytes > 0) return 0;
        return FillPostsWith(data);
    }

    private int FillPostsWith(ReadOnlySpan<byte> data)
    {
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
        if (_posts.Count > 0 && m.ReceiveBufferedBytes > 0)
        {
            DeliverStaged();
            m.DeliverBuffered(); // nothing while bytes are still held (the posts filled up first)
        }
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

    private int IndicationSize => Cached.RcvIndicationSize != 0 ? (int)Math.Min(Cached.RcvIndicationSize, int.MaxValue) : _engine.Options.MaxIndicationSize;

    private void StartIndication()
    {
        int size = IndicationSize;
        NoteIndication();
        var buffer = _engine.IndicationBuffers.Rent();
        if (_staged is { Bytes: > 0 } staged)
        {
            size = Math.Min(size, MaxStagedChunk);
            // The held bytes are the oldest: the head chunk is the indication's buffer as it is (no copy). When it is the
            // only chunk, ring bytes after it (written there while it could not be held) fill its room, as a copy.
            int extra = 0;
            if (Machine.ReceiveBufferedBytes > Machine.ReceiveHeldBytes)
            {
                var room = staged.HeadRoom(size);
                if (!room.IsEmpty) extra = Machine.PeekReceived(Machine.ReceiveHeldBytes, room);
            }
            var array = staged.TakeHead(extra, out int start, out int length);
            _indicatedHeld = length - extra;
            _engine.HeldIndications++;
            _engine.HeldIndicationBytes += _indicatedHeld;
            buffer.Adopt(array, start, length);
            buffer.KeepsBytes = true;
            _indicated = buffer;
        }
        else
        {
            int length = Math.Min(Machine.ReceiveBufferedBytes, size);
            var span = buffer.Prepare(length);
            Machine.PeekReceived(0, span);
        }
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
        var indicated = _indicated;
        int indicatedHeld = _indicatedHeld;
        _indicated = null;
        _indicatedHeld = 0;
        if (bytesTaken > 0)
        {
            Machine.ConsumeReceived(Math.Min(bytesTaken, Machine.ReceiveBufferedBytes));
        }
        if (status != NdisStatus.Success)
        {
            _indicationsBlocked = true;
            // Held bytes the host did not take go back into the ring, in front of the ones still staged (which follow
            // them): with indications blocked the next post takes them through the usual path.
            if (indicated is not null) UnholdAll(indicated, Math.Max(0, indicatedHeld - Math.Max(0, bytesTaken)), Math.Min(Math.Max(0, bytesTaken), indicatedHeld));
        }
        if (indicated is not null && status != NdisStatus.Success) _engine.IndicationBuffers.Return(indicated);
        MarkDirty();
    }

    // Writes every held byte back into the machine's ring: first `leftover` bytes of the refused indication from
    // `skip` (its held part not taken), then the staged chunks; the machine then holds them itself.
    private void UnholdAll(IndicationBuffer indicated, int leftover, int skip)
    {
        var m = Machine;
        int at = 0;
        if (leftover > 0)
        {
            // From the array itself, where Adopt put the bytes (whatever the host did to the NBL's offsets).
            m.WriteHeldBytes(at, indicated.Array.AsSpan(indicated.Start + skip, leftover));
            at += leftover;
        }
        if (_staged is { Bytes: > 0 } staged)
        {
            while (staged.Bytes > 0)
            {
                var head = staged.Head;
                m.WriteHeldBytes(at, head);
                at += head.Length;
                staged.ConsumeHead(head.Length);
            }
        }
        m.EndHold();
    }

    // Posts first (spec §3): the held bytes are the oldest, they fill the posts before anything in the ring.
    private void DeliverStaged()
    {
        if (_staged is not { Bytes: > 0 } staged) return;
        while (staged.Bytes > 0 && _posts.Count > 0)
        {
            var head = staged.Head;
            int n = FillPostsWith(head);
            if (n == 0) break;
            Machine.ConsumeReceived(n);
            staged.ConsumeHead(n);
            if (n < head.Length) break;
        }
    }

    // The machine's offer of in-order bytes it has nowhere else to put (no post took them, nothing older in its ring):
    // held here for the next indication while indications may go (not blocked, no terminate, no urgent data).
    private int Hold(ReadOnlySpan<byte> data)
    {
        if (Terminating is not null || HardwareFailed || UrgentHold || _indicationsBlocked) return 0;
        // A chunk is one indication's buffer: the indication size, but never a huge array for a huge RcvIndicationSize.
        (_staged ??= new ReceiveStaging()).Append(data, Math.Min(IndicationSize, MaxStagedChunk));
        return data.Length;
    }

    private const int MaxStagedChunk = 1 << 20;

    /// <summary>The answer to an indication of a connection already gone: a refused buffer of held bytes is the engine's
    /// to give back.</summary>
    public void AbandonIndication(NdisStatus status)
    {
        _indicationOutstanding = false;
        if (_indicated is { } indicated && status != NdisStatus.Success) _engine.IndicationBuffers.Return(indicated);
        _indicated = null;
        _indicatedHeld = 0;
    }

    /// <summary>The connection is gone: staged chunks go back to the pool.</summary>
    public void ReleaseStaged() => _staged?.Clear();

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
        // The held bytes first (no indication is outstanding at terminate: they are all staged), then the ring's.
        int held = Machine.ReceiveHeldBytes;
        if (held > 0) _staged!.CopyTo(span);
        Machine.PeekReceived(held, span[held..]);
        Machine.ConsumeReceived(count);
        _staged?.Clear();
        buffer.HeldByHost = true;
        return buffer.Nbl;
    }

    // The machine's receive consumer: in-order bytes go straight into the posts (the connection is its own consumer, no
    // object per connection for it).
    int ITcpReceiveConsumer.Deliver(ReadOnlySpan<byte> data) => FillPosts(data);

    int ITcpReceiveConsumer.Hold(ReadOnlySpan<byte> data) => Hold(data);
}
