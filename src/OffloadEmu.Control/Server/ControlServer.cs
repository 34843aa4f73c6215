using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using OffloadEmu.Chimney;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Server;

/// <summary>
/// Serves an <see cref="IOffloadTarget"/> to host-stack processes over a Unix domain socket (docs/control.md). The
/// server binds itself to the target as its one host and gives each client a session with its own handles; clients
/// see and touch only the objects they offloaded.
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    private readonly ControlServerOptions _options;
    private readonly ILogger? _logger;
    private readonly TargetMultiplexer _mux;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessionTasks = [];
    private readonly List<ControlSession> _sessions = [];
    private readonly Lock _lock = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private bool _ownsSocketFile;

    /// <summary>Creates the server and binds it to <paramref name="target"/> (the target's one host).</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public ControlServer(IOffloadTarget target, ControlServerOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("Invalid control server options: " + string.Join(" ", errors), nameof(options));
        _options = options;
        _logger = logger;
        _mux = new TargetMultiplexer(target);
        if (options.EngineCompletions is { } completions) completions.EngineThreadHost = _mux;
    }

    /// <summary>The socket path.</summary>
    public string Path => _options.Path;

    /// <summary>Clients bound now.</summary>
    public int SessionCount
    {
        get
        {
            lock (_lock) return _sessions.Count(s => !s.IsClosed);
        }
    }

    /// <summary>Offloaded objects (neighbour, path, TCP) of every session, by server handle.</summary>
    public int ObjectCount => _mux.HandleCount;

    /// <summary>Creates the socket's directory, binds and listens (mode from the options), and starts accepting.</summary>
    public void Start()
    {
        if (_listener is not null) throw new InvalidOperationException("The control server is already started.");
        bool abstractName = _options.Path.StartsWith('@');
        if (!abstractName)
        {
            var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_options.Path));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            if (File.Exists(_options.Path)) RemoveStaleSocket(_options.Path);
        }
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        bool bound = false;
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(abstractName ? "\0" + _options.Path[1..] : _options.Path));
            bound = true;
            if (!abstractName && !OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(_options.Path, _options.SocketMode);
                if (!string.IsNullOrEmpty(_options.SocketGroup))
                {
                    if (!Native.UnixGroup.TryGetId(_options.SocketGroup, out uint gid))
                        throw new IOException($"group '{_options.SocketGroup}' does not exist");
                    Native.UnixGroup.SetGroup(_options.Path, gid);
                }
            }
            listener.Listen(64);
        }
        catch
        {
            listener.Dispose();
            if (bound && !abstractName) File.Delete(_options.Path); // never listened: nobody can be using it
            throw;
        }
        _listener = listener;
        _ownsSocketFile = !abstractName;
        if (_logger is not null) ControlLog.Listening(_logger, _options.Path);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    // A socket file left by an earlier run is replaced; a live server's socket, or anything that is not a socket, is not.
    private static void RemoveStaleSocket(string path)
    {
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new IOException($"{path}: another control server is listening there.");
            }
            catch (SocketException)
            {
                // nobody listening: stale
            }
        }
        if (new FileInfo(path).Length != 0) throw new IOException($"{path}: exists and is not a socket; remove it or choose another Control:Endpoint.");
        File.Delete(path);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || _stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                if (_logger is not null) ControlLog.AcceptFailed(_logger, ex);
                continue;
            }
            var connection = new MessageConnection(socket, _options.MaxMessageSize, _options.MaxQueuedBytes);
            var session = new ControlSession(_mux, connection, _options, _logger);
            if (_options.Observer is { } observer)
            {
                long id = session.Id;
                connection.Observer = (received, frame) => observer.OnMessage(id, received, frame);
                connection.ObservedBytesLimit = Math.Max(ControlProtocol.HeaderSize, observer.MaxObservedBytes);
            }
            lock (_lock)
            {
                _sessions.RemoveAll(s => s.IsClosed && s.Finished.Task.IsCompleted);
                _sessionTasks.RemoveAll(t => t.IsCompleted);
                if (_sessions.Count(s => !s.IsClosed) >= _options.MaxSessions)
                {
                    if (_logger is not null) ControlLog.Refused(_logger, "too many clients");
                    connection.StartSending();
                    _ = connection.CloseAsync(new ErrorMessage { Code = ProtocolError.Internal, Text = "too many clients" }, TimeSpan.FromSeconds(1));
                    continue;
                }
                _sessions.Add(session);
                _sessionTasks.Add(Task.Run(session.RunAsync));
            }
        }
    }

    /// <summary>Waits until every closed session has terminated the objects it left (tests and shutdown).</summary>
    public async Task WaitForCleanupAsync(TimeSpan timeout)
    {
        Task[] tasks;
        lock (_lock) tasks = [.. _sessions.Where(s => s.IsClosed).Select(s => s.Finished.Task)];
        await Task.WhenAll(tasks).WaitAsync(timeout).ConfigureAwait(false);
    }

    /// <summary>Stops accepting, closes every session (Shutdown error; their objects are terminated), removes the socket file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _listener?.Dispose();
        if (_acceptLoop is not null) await _acceptLoop.ConfigureAwait(false);
        ControlSession[] sessions;
        Task[] tasks;
        lock (_lock)
        {
            sessions = [.. _sessions];
            tasks = [.. _sessionTasks];
        }
        // All at once: each close lingers until its client has read the reason and closed (at most a second).
        var closes = new Task[sessions.Length];
        for (int i = 0; i < sessions.Length; i++) closes[i] = sessions[i].CloseAsync(ProtocolError.Shutdown, "server stopping");
        await Task.WhenAll(closes).ConfigureAwait(false);
        await Task.WhenAll(tasks).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(sessions.Select(s => s.Finished.Task)).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A target that no longer completes; nothing more to wait for.
        }
        _mux.Dispose();
        // Only the file this server bound: a failed Start must not remove another server's socket.
        if (_ownsSocketFile && File.Exists(_options.Path)) File.Delete(_options.Path);
        _stop.Dispose();
    }
}
