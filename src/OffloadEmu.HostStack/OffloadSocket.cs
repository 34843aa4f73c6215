using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>
/// An application's TCP connection on a <see cref="HostStack"/>: reads, writes, graceful shutdown and close, abort,
/// and the offload controls. It may live in the host stack or on the offload target (<see cref="Location"/>); the
/// byte stream is the same either way, across offload, upload and re-offload.
/// </summary>
/// <remarks>Thread-safe for one reader and one writer at a time. Calls post commands to the engine loop; nothing here
/// touches connection state directly.</remarks>
public sealed class OffloadSocket : IAsyncDisposable
{
    private readonly HostStack _stack;
    private readonly Lock _sendLock = new();
    private readonly int _sendLimit;
    private long _unacked;
    private long _bytesWritten;
    private readonly SpaceSignal _space;
    private bool _spaceWaiting;
    private Exception? _writeError;
    private Stream? _stream;
    private System.IO.Pipelines.IDuplexPipe? _pipe;

    internal OffloadSocket(HostStack stack, IpAddressValue remote, ushort remotePort, ushort localPort)
    {
        _stack = stack;
        RemoteIpAddress = remote;
        RemotePort = remotePort;
        LocalPort = localPort;
        _sendLimit = stack.Options.SendBufferSize;
        _space = new SpaceSignal(stack.AsyncContinuations);
        Rx = new ReceiveQueue(stack.Options.ReceiveBufferSize, stack.AsyncContinuations);
        Connection = new HostConnection(stack, this, new ConnectionKey(remote, remotePort, localPort));
    }

    internal HostConnection Connection { get; }

    internal ReceiveQueue Rx { get; }

    /// <summary>The local IPv4 address (the interface's; unspecified for an IPv6 connection, see <see cref="LocalIpAddress"/>).</summary>
    public Ipv4Address LocalAddress => RemoteIpAddress.IsIpv6 ? default : _stack.Address;

    /// <summary>The local address of either family (the interface's IPv4 or IPv6 address).</summary>
    public IpAddressValue LocalIpAddress => RemoteIpAddress.IsIpv6 ? _stack.Address6 : _stack.Address;

    /// <summary>True for a connection over IPv6.</summary>
    public bool IsIpv6 => RemoteIpAddress.IsIpv6;

    /// <summary>The local port.</summary>
    public ushort LocalPort { get; }

    /// <summary>The peer's IPv4 address (unspecified for an IPv6 connection, see <see cref="RemoteIpAddress"/>).</summary>
    public Ipv4Address RemoteAddress => RemoteIpAddress.IsIpv6 ? default : RemoteIpAddress.Ipv4;

    /// <summary>The peer's address of either family.</summary>
    public IpAddressValue RemoteIpAddress { get; }

    /// <summary>The peer's port.</summary>
    public ushort RemotePort { get; }

    /// <summary>Where the connection lives now.</summary>
    public ConnectionLocation Location => Connection.Location;

    /// <summary>Bytes the application wrote.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>Bytes received for the application (read or waiting).</summary>
    public long BytesReceived => Rx.TotalAppended;

    /// <summary>How many times the connection was offloaded and uploaded.</summary>
    public (int Offloads, int Uploads) OffloadCounts => (Connection.OffloadCount, Connection.UploadCount);

    /// <summary>A stream over the connection (dispose = <see cref="CloseAsync"/>).</summary>
    public Stream Stream => _stream ??= new OffloadSocketStream(this);

    /// <summary>A duplex pipe over the connection (<see cref="Stream"/> underneath; completing the pipe does not
    /// close the connection).</summary>
    public System.IO.Pipelines.IDuplexPipe Pipe => _pipe ??= new OffloadSocketPipe(Stream);

    /// <summary>Reads received bytes; 0 at end of stream (the peer's FIN). Throws <see cref="IOException"/> after a
    /// reset.</summary>
    public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var result = Rx.ReadAsync(buffer, out _, cancellationToken);
        // Either way the engine should look: a pending read may need a receive post, a completed one freed space. An
        // offloaded connection with its receive gate open posts here, on this thread.
        if (!_stack.TryReadDirect(Connection)) _stack.Post(new HostCommand { Kind = CommandKind.ReadRequested, Object = Connection });
        return result;
    }

    /// <summary>Writes bytes: copied into send chunks; completes once they fit in the send buffer.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // The chunks a write fills while there is room go on together: one TcpOffloadSend for all of them when the
        // connection is offloaded and its send gate is open (HostStack.Direct.cs), else one loop command each.
        SendChunk? first = null, last = null;
        while (!data.IsEmpty)
        {
            ValueTask wait = default;
            bool mustWait = false;
            Exception? error;
            lock (_sendLock)
            {
                error = _writeError;
                if (error is null && _unacked >= _sendLimit)
                {
                    if (_spaceWaiting) throw new InvalidOperationException("Only one write may be pending on a connection.");
                    _spaceWaiting = true;
                    wait = _space.Arm();
                    mustWait = true;
                }
            }
            if (error is not null || mustWait)
            {
                // What this write filled so far is written (counted, in order) before it waits or fails.
                HandOn(ref first, ref last);
                if (error is not null) throw error;
                // Cancelling a write that waits for space ends the wait with OperationCanceledException; what was already
                // written stays written (it is in the send buffer, in order).
                var registration = cancellationToken.CanBeCanceled
                    ? cancellationToken.UnsafeRegister(static (s, ct) => ((OffloadSocket)s!).CancelWrite(ct), this)
                    : default;
                try
                {
                    await wait.ConfigureAwait(false);
                }
                finally
                {
                    registration.Dispose();
                }
                continue;
            }
            var chunk = _stack.Chunks.Rent();
            int n = Math.Min(data.Length, _stack.Chunks.ChunkSize);
            chunk.Fill(data.Span[..n]);
            chunk.Connection = Connection;
            lock (_sendLock) _unacked += n;
            Interlocked.Add(ref _bytesWritten, n);
            if (last is null) first = chunk;
            else last.NextWritten = chunk;
            last = chunk;
            data = data[n..];
        }
        HandOn(ref first, ref last);
    }

    /// <summary>Hands the chunks a write filled (linked by <see cref="SendChunk.NextWritten"/>) to the target or the loop.</summary>
    private void HandOn(ref SendChunk? first, ref SendChunk? last)
    {
        if (first is null) return;
        if (!_stack.TrySendDirect(Connection, first))
        {
            for (var chunk = first; chunk is not null;)
            {
                var next = chunk.NextWritten;
                chunk.NextWritten = null;
                _stack.Post(new HostCommand { Kind = CommandKind.Send, Object = Connection, Extra = chunk });
                chunk = next;
            }
        }
        first = last = null;
    }

    private void CancelWrite(CancellationToken token)
    {
        lock (_sendLock)
        {
            if (!_spaceWaiting) return;   // already woken by space or an error
            _spaceWaiting = false;
        }
        _space.Fail(new OperationCanceledException(token));
    }

    /// <summary>Closes the send half: a FIN follows the written data. Completes when the FIN is acknowledged.</summary>
    public Task ShutdownAsync()
    {
        // Bytes written from now on would follow the FIN: later (and still waiting) writes fail instead.
        lock (_sendLock) _writeError ??= new InvalidOperationException("The send half of the connection was shut down.");
        var tcs = new TaskCompletionSource(_stack.AsyncContinuations ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        _stack.Post(new HostCommand { Kind = CommandKind.Shutdown, Object = Connection, Extra = tcs });
        return tcs.Task;
    }

    /// <summary>Graceful close: shuts the send half down (if not yet) and releases the connection once both directions
    /// are finished. Completes when our FIN is acknowledged.</summary>
    public Task CloseAsync()
    {
        lock (_sendLock) _writeError ??= new InvalidOperationException("The connection was closed.");
        var tcs = new TaskCompletionSource(_stack.AsyncContinuations ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        _stack.Post(new HostCommand { Kind = CommandKind.Close, Object = Connection, Extra = tcs });
        return tcs.Task;
    }

    /// <summary>Abortive close: a RST goes to the peer; reads and writes fail.</summary>
    public void Abort() => _stack.Post(new HostCommand { Kind = CommandKind.Abort, Object = Connection });

    /// <summary>Takes the connection back from the offload target (terminate offload); it continues in host mode. The
    /// offload policy no longer offloads it by itself (use <see cref="OffloadAsync"/>).</summary>
    public Task UploadAsync()
    {
        var tcs = new TaskCompletionSource(_stack.AsyncContinuations ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        _stack.Post(new HostCommand { Kind = CommandKind.Upload, Object = Connection, Extra = tcs });
        return tcs.Task;
    }

    /// <summary>Offloads the connection now; true when the target took it, false when the initiate failed (the
    /// connection then keeps working in host mode).</summary>
    public Task<bool> OffloadAsync()
    {
        var tcs = new TaskCompletionSource<bool>(_stack.AsyncContinuations ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        _stack.Post(new HostCommand { Kind = CommandKind.Offload, Object = Connection, Extra = tcs });
        return tcs.Task;
    }

    /// <summary>One line of the connection's host-side state (location, sequence numbers in host mode, the receive
    /// queue, the outstanding receive post, indications blocked, sends outstanding on the target), read by the engine
    /// loop: for diagnostics (the CLI prints it for a transfer that timed out). Its format may change.</summary>
    public Task<string> DescribeAsync()
    {
        var tcs = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _stack.Post(new HostCommand { Kind = CommandKind.Describe, Object = Connection, Extra = tcs });
        return tcs.Task;
    }

    /// <summary>A snapshot of the connection's counters, taken by the engine loop.</summary>
    public Task<OffloadSocketStatistics> GetStatisticsAsync()
    {
        var tcs = new TaskCompletionSource<OffloadSocketStatistics>(_stack.AsyncContinuations ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        _stack.Post(new HostCommand { Kind = CommandKind.Statistics, Object = Connection, Extra = tcs });
        return tcs.Task;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);

    // ---- engine side ----

    /// <summary>Engine: <paramref name="bytes"/> of written data were acknowledged (or dropped after a failure).</summary>
    internal void ReleaseSend(int bytes)
    {
        bool wake = false;
        lock (_sendLock)
        {
            _unacked -= bytes;
            if (_unacked < _sendLimit && _spaceWaiting)
            {
                _spaceWaiting = false;
                wake = true;
            }
        }
        if (wake) _space.Set();
    }

    /// <summary>Engine: writes fail from now on (reset, abort).</summary>
    internal void FailWrites(Exception error)
    {
        bool wake;
        lock (_sendLock)
        {
            _writeError ??= error;
            wake = _spaceWaiting;
            _spaceWaiting = false;
        }
        if (wake) _space.Fail(error);
    }

    internal string SendDiagnostics
    {
        get
        {
            lock (_sendLock) return $"unacked={_unacked} waiting={_spaceWaiting} err={_writeError?.Message}";
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Connection.ToString();
}
