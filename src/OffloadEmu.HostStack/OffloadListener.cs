namespace OffloadEmu.HostStack;

/// <summary>A listening port: connections the peer opened (passive open) wait here until accepted.</summary>
public sealed class OffloadListener
{
    private readonly HostStack _stack;
    private readonly Lock _lock = new();
    private readonly Queue<OffloadSocket> _ready = new();
    private readonly Queue<TaskCompletionSource<OffloadSocket>> _waiters = new();

    internal OffloadListener(HostStack stack, ushort port, int backlog)
    {
        _stack = stack;
        Port = port;
        Backlog = backlog;
    }

    /// <summary>The local port.</summary>
    public ushort Port { get; }

    /// <summary>Established connections that may wait unaccepted; SYNs beyond it are ignored.</summary>
    public int Backlog { get; }

    /// <summary>Half-open connections (SYN received, handshake not finished); engine thread only.</summary>
    internal int HalfOpenCount { get; set; }

    /// <summary>Connections established and not yet accepted.</summary>
    public int ReadyCount
    {
        get
        {
            lock (_lock) return _ready.Count;
        }
    }

    /// <summary>Waits for the next established connection.</summary>
    /// <exception cref="IOException">The stack's offload target is gone (no connection can arrive any more).</exception>
    public Task<OffloadSocket> AcceptAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (_ready.TryDequeue(out var socket)) return Task.FromResult(socket);
            if (_error is not null) return Task.FromException<OffloadSocket>(_error);
            var tcs = new TaskCompletionSource<OffloadSocket>(_stack.AsyncContinuations ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
            _waiters.Enqueue(tcs);
            return tcs.Task;
        }
    }

    /// <summary>Stops listening (established, unaccepted connections stay queued).</summary>
    public void Stop() => _stack.Post(new HostCommand { Kind = CommandKind.StopListen, Object = this });

    /// <summary>No connection will arrive any more (the target is gone): waiting and later accepts fail with
    /// <paramref name="error"/>; connections already queued are still handed out.</summary>
    internal void Fail(Exception error)
    {
        TaskCompletionSource<OffloadSocket>[] waiters;
        lock (_lock)
        {
            _error ??= error;
            waiters = [.. _waiters];
            _waiters.Clear();
        }
        foreach (var waiter in waiters) waiter.TrySetException(error);
    }

    private Exception? _error;

    internal void Enqueue(OffloadSocket socket)
    {
        TaskCompletionSource<OffloadSocket>? waiter;
        lock (_lock)
        {
            if (!_waiters.TryDequeue(out waiter))
            {
                _ready.Enqueue(socket);
                return;
            }
        }
        waiter.SetResult(socket);
    }
}
