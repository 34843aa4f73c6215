using OffloadEmu.Chimney;
using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using OffloadEmu.Control.Native;

namespace OffloadEmu.Control.Protocol;

/// <summary>
/// One framed connection over a stream socket: a receive loop reading whole messages from a <see cref="PipeReader"/>,
/// and an <see cref="OutputQueue"/> that any thread appends whole messages to (never blocking). Whoever appends to an
/// idle connection writes the queue into the socket at once with one gathered non-blocking <c>sendmsg</c> (no thread
/// hop); messages appended meanwhile go out with the next write, and when the socket is full the rest goes
/// asynchronously. The bytes queued but not yet sent are counted; passing <see cref="MaxQueuedBytes"/> calls
/// <see cref="Overflowed"/> once (the owner closes the connection: a slow peer is not buffered without bound).
/// </summary>
internal sealed class MessageConnection : IAsyncDisposable
{
    /// <summary>Socket buffer asked for each way (the kernel caps it at net.core.wmem_max / rmem_max): a Unix stream
    /// socket holds at most the sender's buffer in flight, and the default (~208 KiB) made bulk data wait on wake-ups.</summary>
    public const int SocketBufferSize = 4 * 1024 * 1024;

    /// <summary>Bytes one receive may read (the pipe reader's buffer).</summary>
    public const int ReadBufferSize = 256 * 1024;

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly Pipe? _inputPipe;
    private int _receiving;
    private readonly OutputQueue _output = new();
    private readonly Lock _writeLock = new();
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _receiveEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private List<ArraySegment<byte>> _spare = new(16);
    private bool _started;
    private bool _sending;     // one sender at a time owns the socket's write side: the thread that queued into an idle
                               // connection (inline) or the asynchronous continuation after the socket was full
    private bool _sendFailed;
    private long _queued;
    private int _overflowed;
    private bool _writerCompleted;
    private long _partialSince;

    public MessageConnection(Socket socket, int maxMessageSize, long maxQueuedBytes)
    {
        _socket = socket;
        try
        {
            socket.SendBufferSize = SocketBufferSize;
            socket.ReceiveBufferSize = SocketBufferSize;
        }
        catch (SocketException)
        {
            // Kept at the system default.
        }
        _stream = new NetworkStream(socket, ownsSocket: false);
        if (SocketWrite.IsSupported)
        {
            // Its own thread reads the socket and runs the receive loop inline (the pipe's reader continuation), so a
            // message costs one kernel wake-up. The writer never pauses: the loop consumes each flush on this thread.
            _inputPipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
                pauseWriterThreshold: 0, resumeWriterThreshold: 0, minimumSegmentSize: ReadBufferSize, useSynchronizationContext: false));
            Input = _inputPipe.Reader;
        }
        else
        {
            Input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: ReadBufferSize, minimumReadSize: 16 * 1024, leaveOpen: true));
        }
        MaxMessageSize = maxMessageSize;
        MaxQueuedBytes = maxQueuedBytes;
    }

    public PipeReader Input { get; }

    public int MaxMessageSize { get; }

    public long MaxQueuedBytes { get; }

    /// <summary>Bytes appended and not yet written to the socket.</summary>
    public long QueuedBytes => Interlocked.Read(ref _queued);

    /// <summary>Called once when <see cref="QueuedBytes"/> passes <see cref="MaxQueuedBytes"/>.</summary>
    public Action? Overflowed { get; set; }

    public CancellationToken Closed => _closed.Token;

    /// <summary>Environment.TickCount64 when the receive loop started holding the first bytes of a message it has
    /// not received whole yet; 0 while no partial message is held (read timeout, docs/control.md).</summary>
    public long PartialMessageSince => Volatile.Read(ref _partialSince);

    /// <summary>Sees each whole message received (true) or sent (false), header included; null = none.</summary>
    public FrameObserver? Observer { get; set; }

    /// <summary>Frames are given to <see cref="Observer"/> cut at this many bytes.</summary>
    public int ObservedBytesLimit { get; set; } = int.MaxValue;

    /// <summary>Socket writes that moved bytes so far (each a gathered batch of whole messages, or its rest), for the
    /// tests and the figures.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    private long _writes;

    /// <summary>Lets queued messages go out (messages appended before are held until then).</summary>
    public void StartSending()
    {
        bool send;
        lock (_writeLock)
        {
            _started = true;
            send = TryBecomeSender();
        }
        if (send) SendQueued();
    }

    /// <summary>Appends a message; false when the connection is closed. Never blocks on the peer: the message goes
    /// into the socket on this thread when the socket is idle and has room, else it is sent after what is queued.</summary>
    public bool Send(ControlMessage message) => Send(message, deferWrite: false);

    /// <summary>
    /// As <see cref="Send(ControlMessage)"/>, but on a completion worker (or inside a <see cref="CompletionQueue.BeginDeferral"/>
    /// scope) the write is left to the end of the worker's drain, so every message its items queue goes out with one
    /// <c>sendmsg</c> (and wakes the peer once): for I/O messages (sends, completions, indications, consumed reports),
    /// never for a request whose reply someone may wait for. Anything sent without deferral meanwhile writes these too;
    /// past <see cref="DeferLimit"/> queued bytes the write is not deferred. Elsewhere it is <see cref="Send(ControlMessage)"/>.
    /// </summary>
    public bool SendDeferred(ControlMessage message) => Send(message, deferWrite: true);

    /// <summary>
    /// True when a message of about <paramref name="bytes"/> appended now would be written by the appending thread with
    /// the next flush, without waiting: the connection is open and started, no write is in progress or waiting for the
    /// socket to take more, and what is queued stays under <see cref="DeferLimit"/>. Read without the lock: a stale answer
    /// costs only where the write happens (the message is queued in order either way).
    /// </summary>
    public bool CanWriteAtOnce(int bytes)
        => Volatile.Read(ref _started) && !Volatile.Read(ref _sending) && !Volatile.Read(ref _writerCompleted)
            && Interlocked.Read(ref _queued) + bytes < DeferLimit;

    /// <summary>Queued bytes above which <see cref="SendDeferred"/> writes at once.</summary>
    public const int DeferLimit = 64 * 1024;

    private static readonly Action<object?> s_flush = static c => ((MessageConnection)c!).Flush();

    /// <summary>Writes what is queued unless a sender is at it already (the end of a deferral).</summary>
    private void Flush()
    {
        bool send;
        lock (_writeLock) send = TryBecomeSender();
        if (send) SendQueued();
    }

    private bool Send(ControlMessage message, bool deferWrite)
    {
        long written;
        bool send;
        bool defer;
        lock (_writeLock)
        {
            if (_writerCompleted) return false;
            var mark = _output.Mark();
            try
            {
                written = FragmentType != 0 && message is StateRequestMessage or StateCompleteMessage
                    ? WriteMaybeFragmented(message)
                    : message.WriteTo(_output);
            }
            catch
            {
                _output.Rewind(mark); // never a partial frame on the stream
                throw;
            }
            Interlocked.Add(ref _queued, written);
            defer = deferWrite && !_sending && _output.Length < DeferLimit;
            send = !defer && TryBecomeSender();
        }
        if (defer && !CompletionQueue.DeferToDrainEnd(s_flush, this))
        {
            lock (_writeLock) send = TryBecomeSender();
        }
        AfterAppend(send);
        return true;
    }

    /// <summary>The fragment type this end sends (<see cref="MessageType.Fragment"/> from a client,
    /// <see cref="MessageType.ServerFragment"/> from a server) once both ends agreed on protocol version 2; 0 = none
    /// (a state message above <see cref="MaxMessageSize"/> then goes whole, and the peer refuses it).</summary>
    public MessageType FragmentType { get; set; }

    /// <summary>Fragmented messages sent (tests and figures).</summary>
    public long FragmentedMessages => Interlocked.Read(ref _fragmentedMessages);

    private long _fragmentedMessages;

    // Under _writeLock. A state message whose payload passes MaxMessageSize (an initiate handing over several MiB of
    // send and receive data, a terminate returning them) is encoded once into a pooled array and queued as back-to-back
    // fragments, each a whole frame of at most MaxMessageSize; nothing else can come between them (the lock).
    private long WriteMaybeFragmented(ControlMessage message)
    {
        long length = message.PayloadLength();
        if (length <= MaxMessageSize || length > ControlProtocol.MaxFragmentedMessageSize) return message.WriteTo(_output, length);
        var payload = ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            message.WritePayloadTo(payload, length);
            int piece = MaxMessageSize - ControlProtocol.FragmentHeaderSize;
            long written = 0;
            for (int offset = 0; offset < length; offset += piece)
            {
                int n = (int)Math.Min(piece, length - offset);
                var fragment = new FragmentMessage(FragmentType)
                {
                    RequestId = message.RequestId, InnerType = message.Type, TotalLength = (uint)length, Offset = (uint)offset,
                    Bytes = payload.AsMemory(offset, n),
                };
                written += fragment.WriteTo(_output, ControlProtocol.FragmentHeaderSize + n);
            }
            Interlocked.Increment(ref _fragmentedMessages);
            return written;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(payload);
        }
    }

    /// <summary>Appends a message whose payload is one length-prefixed blob (frames), straight from a span.</summary>
    public bool SendBlob(MessageType type, ulong requestId, ReadOnlySpan<byte> blob)
    {
        long written = ControlProtocol.HeaderSize + 4 + blob.Length;
        bool send;
        lock (_writeLock)
        {
            if (_writerCompleted) return false;
            var header = _output.GetSpan(ControlProtocol.HeaderSize + 4);
            ControlMessage.WriteHeader(header, (uint)(4 + blob.Length), type, requestId);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header[ControlProtocol.HeaderSize..], (uint)blob.Length);
            _output.Advance(ControlProtocol.HeaderSize + 4);
            _output.Write(blob);
            Interlocked.Add(ref _queued, written);
            send = TryBecomeSender();
        }
        AfterAppend(send);
        return true;
    }

    private void AfterAppend(bool send)
    {
        if (Interlocked.Read(ref _queued) > MaxQueuedBytes && Interlocked.Exchange(ref _overflowed, 1) == 0) Overflowed?.Invoke();
        if (send) SendQueued();
    }

    // Under _writeLock.
    private bool TryBecomeSender()
    {
        if (_sending || !_started || _sendFailed || _output.Length == 0) return false;
        _sending = true;
        return true;
    }

    /// <summary>Sends <paramref name="last"/> (if any), lets the queue drain for at most <paramref name="linger"/>,
    /// then closes the socket. Idempotent. With <paramref name="awaitPeerClose"/> (a close this end starts, with a
    /// reason the peer must read) the wait goes on, within the same <paramref name="linger"/>, until the peer has closed
    /// its end: once drained the write side is shut (the peer reads everything, then the end of the stream) and the
    /// receive thread must see the peer's close. So when this returns the peer has taken the last message and closed,
    /// or the linger ran out (docs/control.md, "Closing with a reason").</summary>
    public async Task CloseAsync(ControlMessage? last, TimeSpan linger, bool awaitPeerClose = false)
    {
        bool send = false;
        lock (_writeLock)
        {
            if (!_writerCompleted)
            {
                if (last is not null)
                {
                    var mark = _output.Mark();
                    try
                    {
                        Interlocked.Add(ref _queued, last.WriteTo(_output));
                    }
                    catch (InvalidOperationException)
                    {
                        _output.Rewind(mark);
                    }
                }
                _writerCompleted = true;
                send = TryBecomeSender();
                if (!_sending) _drained.TrySetResult();
            }
        }
        if (send) SendQueued();
        if (!_started) _drained.TrySetResult(); // nothing will ever send it
        var deadline = Task.Delay(linger);
        bool drained = await Task.WhenAny(_drained.Task, deadline).ConfigureAwait(false) == _drained.Task;
        // Only a receive thread sees the peer's close (the stream reader fallback has none).
        if (awaitPeerClose && drained && Volatile.Read(ref _receiving) != 0 && !Volatile.Read(ref _sendFailed))
        {
            try
            {
                _socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
            await Task.WhenAny(_receiveEnded.Task, deadline).ConfigureAwait(false);
        }
        Abort();
    }

    /// <summary>Closes the socket at once.</summary>
    public void Abort()
    {
        lock (_writeLock)
        {
            _writerCompleted = true;
            _sendFailed = true;
        }
        _drained.TrySetResult();
        try
        {
            if (!_closed.IsCancellationRequested) _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }

    /// <summary>
    /// The sender: takes everything queued as one batch, writes it with one gathered non-blocking <c>sendmsg</c> on
    /// this thread, and goes on while more was queued meanwhile. When the socket is full the rest of the batch goes
    /// asynchronously and that continuation stays the sender. Called only by the thread that set <see cref="_sending"/>.
    /// </summary>
    private void SendQueued()
    {
        while (true)
        {
            List<ArraySegment<byte>> batch;
            long length;
            lock (_writeLock)
            {
                if (_output.Length == 0 || _sendFailed)
                {
                    _sending = false;
                    if (_writerCompleted) _drained.TrySetResult();
                    return;
                }
                length = _output.Length;
                batch = _output.Take(_spare);
                _spare = null!;
            }
            if (Observer is { } observer) ObserveSent(observer, batch, ObservedBytesLimit);
            long sent = 0;
            try
            {
                if (SocketWrite.IsSupported)
                {
                    while (sent < length)
                    {
                        long n = SocketWrite.TrySend(_socket, batch, sent);
                        if (n == 0) break;
                        Interlocked.Increment(ref _writes);
                        sent += n;
                    }
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                Failed(batch);
                return;
            }
            if (sent < length)
            {
                _ = SendRestAsync(batch, sent, length);
                return;
            }
            Sent(batch, length);
        }
    }

    private void Sent(List<ArraySegment<byte>> batch, long length)
    {
        OutputQueue.Release(batch);
        Interlocked.Add(ref _queued, -length);
        lock (_writeLock) _spare ??= batch;
    }

    private void Failed(List<ArraySegment<byte>> batch)
    {
        // The peer went away or we closed: the receive loop sees it too. Nothing more is sent.
        OutputQueue.Release(batch);
        lock (_writeLock)
        {
            _sendFailed = true;
            _writerCompleted = true;
            _sending = false;
            _spare ??= batch;
        }
        _drained.TrySetResult();
    }

    // The socket was full: the rest of the batch goes when it has room (one gathered asynchronous write), then this
    // continuation stays the sender and goes on with what was queued meanwhile.
    private async Task SendRestAsync(List<ArraySegment<byte>> batch, long sent, long length)
    {
        try
        {
            var rest = new List<ArraySegment<byte>>(batch.Count);
            while (sent < length)
            {
                rest.Clear();
                long skip = sent;
                foreach (var segment in batch)
                {
                    if (skip >= segment.Count)
                    {
                        skip -= segment.Count;
                        continue;
                    }
                    rest.Add(segment.Slice((int)skip));
                    skip = 0;
                }
                int n = await _socket.SendAsync(rest, SocketFlags.None).WaitAsync(_closed.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _writes);
                if (n <= 0) throw new IOException("the socket took no bytes");
                sent += n;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            Failed(batch);
            return;
        }
        Sent(batch, length);
        SendQueued();
    }

    // Messages are appended whole, so a batch is whole frames; a frame may span arrays.
    private void ObserveSent(FrameObserver observer, List<ArraySegment<byte>> batch, int limit)
    {
        var sequence = _observed.Build(batch);
        Span<byte> header = stackalloc byte[4];
        while (sequence.Length >= ControlProtocol.HeaderSize)
        {
            sequence.Slice(0, 4).CopyTo(header);
            long total = ControlProtocol.HeaderSize + (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header);
            if (sequence.Length < total) break;
            Observe(observer, false, sequence.Slice(0, total), limit);
            sequence = sequence.Slice(total);
        }
        _observed.Clear();
    }

    private readonly SegmentChain _observed = new();

    /// <summary>A reusable <see cref="ReadOnlySequence{T}"/> over a batch's arrays (no allocation once grown).</summary>
    private sealed class SegmentChain
    {
        private readonly List<Node> _nodes = [];

        public ReadOnlySequence<byte> Build(List<ArraySegment<byte>> batch)
        {
            if (batch.Count == 0) return ReadOnlySequence<byte>.Empty;
            while (_nodes.Count < batch.Count) _nodes.Add(new Node());
            long running = 0;
            for (int i = 0; i < batch.Count; i++)
            {
                _nodes[i].Set(batch[i], running, i + 1 < batch.Count ? _nodes[i + 1] : null);
                running += batch[i].Count;
            }
            var last = _nodes[batch.Count - 1];
            return new ReadOnlySequence<byte>(_nodes[0], 0, last, last.Memory.Length);
        }

        public void Clear()
        {
            foreach (var n in _nodes) n.Set(default, 0, null);
        }

        private sealed class Node : ReadOnlySequenceSegment<byte>
        {
            public void Set(ArraySegment<byte> segment, long runningIndex, Node? next)
            {
                Memory = segment;
                RunningIndex = runningIndex;
                Next = next;
            }
        }
    }

    private static void Observe(FrameObserver observer, bool received, ReadOnlySequence<byte> frame, int limit)
    {
        if (frame.Length > limit) frame = frame.Slice(0, limit);
        if (frame.IsSingleSegment)
        {
            observer(received, frame.FirstSpan);
            return;
        }
        var copy = ArrayPool<byte>.Shared.Rent((int)frame.Length);
        frame.CopyTo(copy);
        observer(received, copy.AsSpan(0, (int)frame.Length));
        ArrayPool<byte>.Shared.Return(copy);
    }

    /// <summary>Starts the receive thread (once; with the stream reader there is none).</summary>
    private void EnsureReceiving()
    {
        if (_inputPipe is null || Interlocked.Exchange(ref _receiving, 1) != 0) return;
        new Thread(ReceiveThread) { IsBackground = true, Name = "oe-control-rx" }.Start();
    }

    private void ReceiveThread()
    {
        var writer = _inputPipe!.Writer;
        Exception? error = null;
        var handle = _socket.SafeHandle;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(16 * 1024);
                int n;
                bool added = false;
                try
                {
                    // The descriptor is held only while in recv: a close waits for the holder to let go, and the
                    // receive loop (run below, on this thread) may close the connection itself.
                    handle.DangerousAddRef(ref added);
                    n = SocketRead.Receive((int)handle.DangerousGetHandle(), memory.Span);
                }
                finally
                {
                    if (added) handle.DangerousRelease();
                }
                if (n == 0) break;
                writer.Advance(n);
                var flush = writer.FlushAsync(); // runs the receive loop on this thread
                var result = flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
                if (result.IsCompleted || result.IsCanceled) break;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
        {
            error = ex; // the peer went away or we closed
        }
        try
        {
            writer.Complete(error is null ? null : new IOException(error.Message, error));
        }
        catch (InvalidOperationException)
        {
        }
        _receiveEnded.TrySetResult(); // the peer closed (or we did): CloseAsync's wait for the peer ends
    }

    /// <summary>
    /// Reads messages until the peer closes or <paramref name="handle"/> throws. Protocol violations surface as
    /// <see cref="ControlProtocolException"/>; the payload given to <paramref name="handle"/> is valid only during the call.
    /// </summary>
    public async Task ReceiveLoopAsync(Func<MessageType, ulong, ReadOnlySequence<byte>, bool> handle)
    {
        EnsureReceiving();
        while (true)
        {
            ReadResult result;
            try
            {
                result = await Input.ReadAsync(_closed.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
            {
                return;
            }
            var buffer = result.Buffer;
            bool keepGoing = true;
            bool completedOne = false;
            // What the messages of one read ask for is deferred to its end: the target's engine is woken once for a
            // send and a consumed report that arrived together, deferred writes go out together.
            bool deferring = CompletionQueue.BeginDeferral();
            try
            {
                while (keepGoing && ControlMessage.TryReadFrame(ref buffer, MaxMessageSize, out var type, out var id, out var payload))
                {
                    completedOne = true;
                    if (Observer is { } observer) Observe(observer, true, FrameOf(result.Buffer, payload), ObservedBytesLimit);
                    keepGoing = handle(type, id, payload);
                }
            }
            finally
            {
                Input.AdvanceTo(buffer.Start, buffer.End);
                // The age of the message held in part: from its first bytes, not from the latest ones (a trickle of
                // one byte at a time does not keep it alive).
                long since = buffer.IsEmpty ? 0 : completedOne || _partialSince == 0 ? Environment.TickCount64 : _partialSince;
                Volatile.Write(ref _partialSince, since);
                if (deferring) CompletionQueue.EndDeferral();
            }
            if (!keepGoing) return;
            if (result.IsCompleted)
            {
                if (!buffer.IsEmpty) throw new ControlProtocolException(ProtocolError.Malformed, "connection closed inside a message");
                return;
            }
        }
    }

    // The header precedes the payload in the same buffer.
    private static ReadOnlySequence<byte> FrameOf(ReadOnlySequence<byte> all, ReadOnlySequence<byte> payload)
    {
        long payloadStart = all.Slice(0, payload.Start).Length;
        return all.Slice(payloadStart - ControlProtocol.HeaderSize, ControlProtocol.HeaderSize + payload.Length);
    }

    public async ValueTask DisposeAsync()
    {
        Abort();
        await Input.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _closed.Dispose();
    }
}
