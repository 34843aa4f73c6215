using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace OffloadEmu.Control.Protocol;

/// <summary>
/// One framed connection over a stream socket: a receive loop reading whole messages from a <see cref="PipeReader"/>,
/// and an outgoing <see cref="Pipe"/> that any thread appends messages to (never blocking) and a send loop drains into
/// the socket. The bytes queued but not yet sent are counted; passing <see cref="MaxQueuedBytes"/> calls
/// <see cref="Overflowed"/> once (the owner closes the connection: a slow peer is not buffered without bound).
/// </summary>
internal sealed class MessageConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly Pipe _output = new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Lock _writeLock = new();
    private readonly CancellationTokenSource _closed = new();
    private Task? _sendLoop;
    private long _queued;
    private int _overflowed;
    private bool _writerCompleted;
    private long _partialSince;

    public MessageConnection(Socket socket, int maxMessageSize, long maxQueuedBytes)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        Input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 65_536, leaveOpen: true));
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

    public void StartSending() => _sendLoop = Task.Run(SendLoopAsync);

    /// <summary>Appends a message; false when the connection is closed. Never blocks on the peer.</summary>
    public bool Send(ControlMessage message)
    {
        long written;
        lock (_writeLock)
        {
            if (_writerCompleted) return false;
            written = message.WriteTo(_output.Writer);
            Interlocked.Add(ref _queued, written);
            var flush = _output.Writer.FlushAsync();
            if (!flush.IsCompleted) flush.AsTask().GetAwaiter().GetResult(); // cannot pause: threshold 0
        }
        if (Interlocked.Read(ref _queued) > MaxQueuedBytes && Interlocked.Exchange(ref _overflowed, 1) == 0) Overflowed?.Invoke();
        return true;
    }

    /// <summary>Appends a message whose payload is one length-prefixed blob (frames), straight from a span.</summary>
    public bool SendBlob(MessageType type, ulong requestId, ReadOnlySpan<byte> blob)
    {
        long written = ControlProtocol.HeaderSize + 4 + blob.Length;
        lock (_writeLock)
        {
            if (_writerCompleted) return false;
            var writer = _output.Writer;
            var header = writer.GetSpan(ControlProtocol.HeaderSize + 4);
            ControlMessage.WriteHeader(header, (uint)(4 + blob.Length), type, requestId);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header[ControlProtocol.HeaderSize..], (uint)blob.Length);
            writer.Advance(ControlProtocol.HeaderSize + 4);
            writer.Write(blob);
            Interlocked.Add(ref _queued, written);
            var flush = writer.FlushAsync();
            if (!flush.IsCompleted) flush.AsTask().GetAwaiter().GetResult();
        }
        if (Interlocked.Read(ref _queued) > MaxQueuedBytes && Interlocked.Exchange(ref _overflowed, 1) == 0) Overflowed?.Invoke();
        return true;
    }

    /// <summary>Sends <paramref name="last"/> (if any), lets the send loop drain for at most <paramref name="linger"/>,
    /// then closes the socket. Idempotent.</summary>
    public async Task CloseAsync(ControlMessage? last, TimeSpan linger)
    {
        lock (_writeLock)
        {
            if (_writerCompleted) goto wait;
            if (last is not null)
            {
                last.WriteTo(_output.Writer);
                _output.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
            }
            _writerCompleted = true;
            _output.Writer.Complete();
        }
    wait:
        if (_sendLoop is { } loop) await Task.WhenAny(loop, Task.Delay(linger)).ConfigureAwait(false);
        Abort();
    }

    /// <summary>Closes the socket at once.</summary>
    public void Abort()
    {
        lock (_writeLock)
        {
            if (!_writerCompleted)
            {
                _writerCompleted = true;
                _output.Writer.Complete();
            }
        }
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

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(_closed.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (Observer is { } observer) ObserveSent(observer, buffer, ObservedBytesLimit);
                foreach (var segment in buffer)
                {
                    int sent = 0;
                    while (sent < segment.Length)
                        sent += await _socket.SendAsync(segment[sent..], SocketFlags.None, _closed.Token).ConfigureAwait(false);
                }
                Interlocked.Add(ref _queued, -buffer.Length);
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // The peer went away or we closed: the receive loop sees it too.
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    // Messages are appended and flushed whole, so the bytes a read returns are whole frames.
    private static void ObserveSent(FrameObserver observer, ReadOnlySequence<byte> buffer, int limit)
    {
        Span<byte> header = stackalloc byte[4];
        while (buffer.Length >= ControlProtocol.HeaderSize)
        {
            buffer.Slice(0, 4).CopyTo(header);
            long total = ControlProtocol.HeaderSize + (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header);
            if (buffer.Length < total) return;
            Observe(observer, false, buffer.Slice(0, total), limit);
            buffer = buffer.Slice(total);
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

    /// <summary>
    /// Reads messages until the peer closes or <paramref name="handle"/> throws. Protocol violations surface as
    /// <see cref="ControlProtocolException"/>; the payload given to <paramref name="handle"/> is valid only during the call.
    /// </summary>
    public async Task ReceiveLoopAsync(Func<MessageType, ulong, ReadOnlySequence<byte>, bool> handle)
    {
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
        if (_sendLoop is { } loop)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch
            {
                // already reported through the receive side
            }
        }
        await Input.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _closed.Dispose();
    }
}
