using System.Collections.Concurrent;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Protocol;
using OffloadEmu.HostStack;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli.Drive;

/// <summary>
/// One <c>offloademu drive</c> session (docs/drive.md): reads request lines, answers each with events echoing its id.
/// Two control sessions on the daemon: the drive's own host (<see cref="RawDriver"/>: synthetic offloads and the
/// low-level requests on them, through the contract) and, once <c>bind</c> gave a local address, a
/// <see cref="HostStack.HostStack"/> for connect/listen/accept. Requests are handled in order on one loop; replies that
/// wait for the target (completions, connects, accepts) come later as events.
/// </summary>
internal sealed class DriveSession
{
    private readonly string _socket;
    private readonly DriveEventWriter _events;
    private readonly TextWriter _stderr;
    private readonly ConcurrentDictionary<int, StackConnection> _stackConnections = new();
    private readonly Dictionary<ushort, OffloadListener> _listeners = [];
    private readonly CancellationTokenSource _stop = new();
    private RawDriver? _raw;
    private RemoteOffloadTarget? _stackTarget;
    private HostStack.HostStack? _stack;
    private TargetParameters? _parameters;
    private Ipv4Address? _local;
    private bool _bound;
    private int _lastConn;
    private string? _fatal;

    public DriveSession(string socket, DriveEventWriter events, TextWriter stderr)
    {
        _socket = socket;
        _events = events;
        _stderr = stderr;
    }

    /// <summary>Runs until stdin ends (or <c>quit</c>); 0, or 1 after a fatal error (no daemon, daemon lost).</summary>
    public async Task<int> RunAsync(TextReader input)
    {
        try
        {
            _raw = new RawDriver(Connect("offloademu drive"), _events);
        }
        catch (DriveFatalException ex)
        {
            _stderr.WriteLine($"offloademu drive: {ex.Message}");
            return 1;
        }
        _parameters = _raw.Target.QueryParameters();
        if (_parameters is { Status: NdisStatus.Success } p) _raw.TickRate = p.Parameters.TicksPerSecond;
        var watcher = Task.Run(WatchAsync);
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (_stop.Token.Register(() => lost.TrySetResult()))
        {
            while (true)
            {
                var read = input.ReadLineAsync();
                if (await Task.WhenAny(read, lost.Task).ConfigureAwait(false) != read) break;
                string? line = await read.ConfigureAwait(false);
                if (line is null) break;
                if (string.IsNullOrWhiteSpace(line)) continue;
                DriveRequest? request = null;
                try
                {
                    request = DriveRequestParser.Parse(line);
                    if (request.Op == "quit") break;
                    Handle(request);
                }
                catch (DriveRequestException ex)
                {
                    _events.Error(request?.IdJson ?? DriveRequestParser.TryReadId(line), ex.Message);
                }
                catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException or IOException or ArgumentException
                    or ControlProtocolException or System.Net.Sockets.SocketException)
                {
                    // A request the target side could not take (e.g. the session is closing): the request fails, the
                    // drive goes on; a lost daemon ends the session through the watcher.
                    _events.Error(request?.IdJson ?? DriveRequestParser.TryReadId(line), $"{request?.Op} failed: {ex.Message}");
                }
            }
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        await watcher.ConfigureAwait(false);
        await ShutdownAsync().ConfigureAwait(false);
        if (_fatal is not null)
        {
            _stderr.WriteLine($"offloademu drive: {_fatal}");
            return 1;
        }
        return 0;
    }

    private RemoteOffloadTarget Connect(string name)
    {
        try
        {
            return RemoteOffloadTarget.Connect(_socket, new RemoteOffloadTargetOptions { ClientName = $"{name} pid {Environment.ProcessId}" });
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException or ControlProtocolException or TimeoutException)
        {
            throw new DriveFatalException($"--daemon {_socket}: no offloademud answers ({ex.Message.TrimEnd('.')}); start it or check Control:Endpoint");
        }
    }

    private void Handle(DriveRequest r)
    {
        if (!_bound && r.Op != "bind") throw new DriveRequestException("not bound yet: send {\"id\":1,\"op\":\"bind\"} first");
        var raw = _raw!;
        switch (r.Op)
        {
            case "bind":
                Bind(r);
                break;
            case "parameters":
                Parameters(r);
                break;
            case "connect":
                Connect(r);
                break;
            case "listen":
                Listen(r);
                break;
            case "accept":
                Accept(r);
                break;
            case "offload":
                var spec = DriveRequestParser.Offload(r);
                var local = spec.LocalAddress ?? _local ?? throw new DriveRequestException("'local_ip' is required (or bind with 'local')");
                raw.Offload(r, Interlocked.Increment(ref _lastConn), spec, local);
                break;
            case "send":
                if (Stack(r.Conn) is { } sc) StackSend(r, sc, r.Data());
                else raw.Send(r, Raw(r.Conn), r.Data());
                break;
            case "read":
                int max = (int)r.Integer("max", 1, DriveRequest.MaxSendBytes, DriveRequest.MaxSendBytes);
                if (Stack(r.Conn) is { } rc) StackRead(r, rc, max);
                else raw.Read(r, Raw(r.Conn), max);
                break;
            case "disconnect":
                bool abortive = DriveRequestParser.Abortive(r);
                if (Stack(r.Conn) is { } dc) StackDisconnect(r, dc, abortive);
                else raw.Disconnect(r, Raw(r.Conn), abortive);
                break;
            case "query":
                if (Stack(r.Conn) is { } qc) StackQuery(r, qc);
                else raw.Query(r, Raw(r.Conn));
                break;
            case "forward":
                raw.Forward(r, RawOnly(r), r.Data());
                break;
            case "post_receive":
                raw.PostReceive(r, RawOnly(r), (int)r.Integer("size", 0, DriveRequestParser.MaxPostSize), r.Flag("push", true));
                break;
            case "update":
                raw.Update(r, RawOnly(r), DriveRequestParser.Cached(r.Object("cached", required: true), default));
                break;
            case "invalidate":
                raw.Invalidate(r, RawOnly(r));
                break;
            case "terminate":
                raw.Terminate(r.IdJson, RawOnly(r));
                break;
            default:
                throw new DriveRequestException($"unknown op '{r.Op}'");
        }
    }

    private StackConnection? Stack(int conn) => _stackConnections.GetValueOrDefault(conn);

    private int Raw(int conn) => _raw!.Owns(conn) ? conn : throw new DriveRequestException($"unknown conn {conn}");

    private int RawOnly(DriveRequest r)
    {
        int conn = r.Conn;
        if (_stackConnections.ContainsKey(conn))
            throw new DriveRequestException($"conn {conn} is a host-stack connection: {r.Op} is for connections of a synthetic offload");
        return Raw(conn);
    }

    // ---- bind and parameters -------------------------------------------------------------------------------------------

    private void Bind(DriveRequest r)
    {
        if (_bound) throw new DriveRequestException("already bound");
        Ipv4Address? local = null;
        if (r.Has("local"))
        {
            var (address, prefix) = DriveRequestParser.Prefix(r);
            var gateway = r.Has("gateway") ? r.Ipv4("gateway") : default;
            var target = Connect("offloademu drive host stack");
            var stack = new HostStack.HostStack(new StackObserver(target, _events, ConnOfPorts), new HostStackOptions
            {
                Address = address,
                PrefixLength = prefix,
                Gateway = gateway,
                OffloadPolicy = OffloadPolicy.AfterHandshake,
                // The daemon's parameters stay as they are (the stack sets its own on the target at start).
                OffloadParameters = _parameters is { Status: NdisStatus.Success } p ? p.Parameters : OffloadParameters.Default,
            });
            stack.Start();
            _stackTarget = target;
            _stack = stack;
            local = address;
        }
        _local = local;
        _bound = true;
        _raw!.ReportFrames = r.Flag("frames", false);
        var t = _raw.Target;
        _events.Emit("bound", r.IdJson, w =>
        {
            w.WriteString("daemon", _socket);
            w.WriteString("mac", t.MacAddress.ToString());
            w.WriteNumber("mtu", t.Mtu);
            DriveJson.Capabilities(w, "capabilities", t.CurrentCapabilities);
            if (local is { } a) w.WriteString("local", a.ToString());
            else w.WriteNull("local");
            w.WriteBoolean("frames", _raw.ReportFrames);
        });
    }

    /// <summary>The host-stack connection with these ports, once the drive has announced it.</summary>
    private int? ConnOfPorts(ushort local, ushort remote)
    {
        foreach (var c in _stackConnections.Values)
            if (c.Socket.LocalPort == local && c.Socket.RemotePort == remote) return c.Conn;
        return null;
    }

    private void Parameters(DriveRequest r)
    {
        var p = _raw!.Target.QueryParameters() ?? throw new DriveRequestException("the daemon did not answer the parameters query");
        _parameters = p;
        if (p.Status == NdisStatus.Success) _raw.TickRate = p.Parameters.TicksPerSecond;
        _events.Emit("parameters", r.IdJson, w => DriveJson.Parameters(w, p));
    }

    // ---- host-stack connections ----------------------------------------------------------------------------------------

    private HostStack.HostStack RequireStack()
        => _stack ?? throw new DriveRequestException("no host stack: bind with 'local' (ADDR/PREFIX) for connect/listen/accept");

    private void Connect(DriveRequest r)
    {
        var stack = RequireStack();
        var (host, port) = DriveRequestParser.HostPort(r);
        _ = ConnectAsync(r.IdJson, stack, host, port);
    }

    private async Task ConnectAsync(string id, HostStack.HostStack stack, Ipv4Address host, ushort port)
    {
        try
        {
            var socket = await stack.ConnectAsync(host, port, _stop.Token).WaitAsync(TimeSpan.FromSeconds(30), _stop.Token).ConfigureAwait(false);
            Opened("connected", id, socket);
        }
        catch (Exception ex)
        {
            _events.Error(id, $"connect {host}:{port}: {ex.Message}");
        }
    }

    private void Listen(DriveRequest r)
    {
        var stack = RequireStack();
        ushort port = r.Port("port");
        if (_listeners.ContainsKey(port)) throw new DriveRequestException($"already listening on {port}");
        _listeners[port] = stack.Listen(port);
        _events.Emit("listening", r.IdJson, w => w.WriteNumber("port", port));
    }

    private void Accept(DriveRequest r)
    {
        RequireStack();
        ushort port = r.Port("port");
        if (!_listeners.TryGetValue(port, out var listener)) throw new DriveRequestException($"not listening on {port}: send listen first");
        _ = AcceptAsync(r.IdJson, listener);
    }

    private async Task AcceptAsync(string id, OffloadListener listener)
    {
        try
        {
            var socket = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            Opened("accepted", id, socket);
        }
        catch (Exception ex)
        {
            _events.Error(id, $"accept: {ex.Message}");
        }
    }

    private void Opened(string name, string id, OffloadSocket socket)
    {
        var c = new StackConnection(Interlocked.Increment(ref _lastConn), socket);
        _stackConnections[c.Conn] = c;
        _events.Emit(name, id, w =>
        {
            w.WriteNumber("conn", c.Conn);
            w.WriteString("local", $"{socket.LocalAddress}:{socket.LocalPort}");
            w.WriteString("remote", $"{socket.RemoteAddress}:{socket.RemotePort}");
            w.WriteString("location", socket.Location.ToString().ToLowerInvariant());
        });
        _ = ReadLoopAsync(c);
    }

    private async Task ReadLoopAsync(StackConnection c)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int n;
            try
            {
                n = await c.Socket.ReadAsync(buffer).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _events.Emit("receive_error", null, w =>
                {
                    w.WriteNumber("conn", c.Conn);
                    w.WriteString("error", ex.Message);
                    w.WriteBoolean("reset", ex is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionReset }
                        || ex.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionReset });
                });
                return;
            }
            if (n == 0)
            {
                _events.Emit("eof", null, w =>
                {
                    w.WriteNumber("conn", c.Conn);
                    w.WriteNumber("delivered_total", c.DeliveredTotal);
                });
                return;
            }
            c.Deliver(buffer.AsSpan(0, n));
            _events.Emit("receive", null, w =>
            {
                w.WriteNumber("conn", c.Conn);
                w.WriteNumber("bytes", n);
                w.WriteNumber("delivered_total", c.DeliveredTotal);
            });
        }
    }

    private void StackSend(DriveRequest r, StackConnection c, byte[] data)
    {
        string id = r.IdJson;
        c.Tail = After(c.Tail, async () =>
        {
            await c.Socket.WriteAsync(data).ConfigureAwait(false);
            return data.Length;
        }, "send_complete", id, c);
    }

    private void StackDisconnect(DriveRequest r, StackConnection c, bool abortive)
    {
        string id = r.IdJson;
        if (abortive)
        {
            c.Socket.Abort();
            Completed("disconnect_complete", id, c, "SUCCESS", 0, null);
            return;
        }
        c.Tail = After(c.Tail, async () =>
        {
            await c.Socket.ShutdownAsync().ConfigureAwait(false);
            return 0;
        }, "disconnect_complete", id, c);
    }

    private async Task After(Task previous, Func<Task<int>> work, string name, string id, StackConnection c)
    {
        try
        {
            await previous.ConfigureAwait(false);
        }
        catch
        {
            // reported by its own request
        }
        try
        {
            int bytes = await work().ConfigureAwait(false);
            Completed(name, id, c, "SUCCESS", bytes, null);
        }
        catch (Exception ex)
        {
            Completed(name, id, c, "FAILURE", 0, ex.Message);
        }
    }

    private void Completed(string name, string id, StackConnection c, string status, int bytes, string? error)
        => _events.Emit(name, id, w =>
        {
            w.WriteNumber("conn", c.Conn);
            w.WriteString("status", status);
            w.WriteNumber("bytes", bytes);
            if (error is not null) w.WriteString("error", error);
        });

    private void StackRead(DriveRequest r, StackConnection c, int max)
    {
        var bytes = c.Take(max);
        _events.Emit("data", r.IdJson, w =>
        {
            w.WriteNumber("conn", c.Conn);
            w.WriteNumber("length", bytes.Length);
            w.WriteString("base64", Convert.ToBase64String(bytes));
            w.WriteNumber("delivered_total", c.DeliveredTotal);
        });
    }

    private void StackQuery(DriveRequest r, StackConnection c)
    {
        string id = r.IdJson;
        _ = Task.Run(async () =>
        {
            try
            {
                var s = await c.Socket.GetStatisticsAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                _events.Emit("queried", id, w =>
                {
                    w.WriteNumber("conn", c.Conn);
                    w.WriteString("status", "SUCCESS");
                    w.WriteString("location", s.Location.ToString());
                    w.WriteNumber("offloads", s.Offloads);
                    w.WriteNumber("uploads", s.Uploads);
                    w.WriteNumber("bytes_written", s.BytesWritten);
                    w.WriteNumber("bytes_received", s.BytesReceived);
                });
            }
            catch (Exception ex)
            {
                _events.Error(id, $"query of conn {c.Conn}: {ex.Message}");
            }
        });
    }

    // ---- watching and the end ------------------------------------------------------------------------------------------

    /// <summary>Reports host-stack connections' location changes (state events) and notices a lost daemon.</summary>
    private async Task WatchAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            foreach (var c in _stackConnections.Values)
            {
                var location = c.Socket.Location;
                if (c.ReportedLocation == location) continue;
                c.ReportedLocation = location;
                _events.Emit("state", null, w =>
                {
                    w.WriteNumber("conn", c.Conn);
                    w.WriteString("location", location.ToString().ToLowerInvariant());
                });
            }
            if (_raw is { } raw && !raw.Target.IsConnected || _stackTarget is { IsConnected: false })
            {
                string reason = _raw?.Target.CloseReason ?? _stackTarget?.CloseReason ?? "connection closed";
                _fatal = $"--daemon {_socket}: lost the daemon ({reason})";
                _events.Emit("error", "null", w => w.WriteString("error", _fatal));
                await _stop.CancelAsync().ConfigureAwait(false);
                return;
            }
            try
            {
                await Task.Delay(20, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ShutdownAsync()
    {
        foreach (var c in _stackConnections.Values)
            if (c.Socket.Location != ConnectionLocation.Closed) c.Socket.Abort();
        foreach (var l in _listeners.Values) l.Stop();
        if (_raw is { } raw && _fatal is null) await raw.AbortAllAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
        if (_stack is { } stack)
        {
            // Give the aborts a moment to reach the target before the stack's session goes (the daemon aborts the rest).
            var deadline = DateTime.UtcNow.AddSeconds(2);
            while (DateTime.UtcNow < deadline && _fatal is null)
            {
                bool open = false;
                foreach (var c in _stackConnections.Values) open |= c.Socket.Location != ConnectionLocation.Closed;
                if (!open) break;
                await Task.Delay(10).ConfigureAwait(false);
            }
            stack.Dispose();
        }
        _stackTarget?.Dispose();
        _raw?.Target.Dispose();
    }
}
