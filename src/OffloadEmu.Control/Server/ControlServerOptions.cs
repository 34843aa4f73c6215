namespace OffloadEmu.Control.Server;

/// <summary>Settings of a <see cref="ControlServer"/> (docs/control.md, limits).</summary>
public sealed record class ControlServerOptions
{
    /// <summary>Unix domain socket path; its directory is created. A stale socket file there is replaced.</summary>
    public string Path { get; init; } = "/run/offloademu/control.sock";

    /// <summary>Mode of the socket file (default 0660: owner and group may connect).</summary>
    public UnixFileMode SocketMode { get; init; } = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;

    /// <summary>Largest payload a client may send; a longer one is answered with an error and the connection closed.</summary>
    public int MaxMessageSize { get; init; } = Protocol.ControlProtocol.DefaultMaxMessageSize;

    /// <summary>Bytes queued to one client and not yet read by it; past this the session is closed (TooSlow).</summary>
    public long MaxQueuedBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>Indicated bytes of one connection the client has not reported consumed; past this the server refuses
    /// indications (the target keeps the data and its window closes) until the client catches up.</summary>
    public int MaxUnconsumedReceiveBytes { get; init; } = 1024 * 1024;

    /// <summary>Time a client has to send its hello after connecting.</summary>
    public TimeSpan HelloTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Time a client may take to send the rest of a message it has started (after its hello): a client
    /// stalled mid-message longer than this is closed with <c>TooSlow</c> and cleaned up like one that disappeared.
    /// Idle clients between messages are not affected.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>At most this many clients at once; more are refused with an error.</summary>
    public int MaxSessions { get; init; } = 64;

    /// <summary>Sees every message of every session (capture mirroring); null = none.</summary>
    public IControlMessageObserver? Observer { get; init; }

    /// <summary>Answers QueryParameters (the target's parameters in effect); null: answered NOT_SUPPORTED.</summary>
    public Func<TargetParameters>? ParametersSource { get; init; }

    /// <summary>Group given the socket file (chown at start; the mode is <see cref="SocketMode"/>); null or empty = the
    /// daemon's own group. An unknown group fails <see cref="ControlServer.Start"/>.</summary>
    public string? SocketGroup { get; init; }

    /// <summary>Answers QueryStatus: the daemon, its link and its connections (at most the given count; taken on the
    /// target's engine thread). The server adds capabilities, statistics, sessions and owners. Null: answered
    /// NOT_SUPPORTED with only what the server knows.</summary>
    public Func<int, CancellationToken, Task<Status.StatusSnapshot>>? StatusSource { get; init; }

    /// <summary>The target's completion queue, when the server may write sessions' I/O completions and indications from
    /// the target's engine thread (docs/control.md, "Threads and copies": the multiplexer, not host code, encodes them and
    /// writes the socket without blocking at the end of the engine's round; anything else, a busy socket or a large
    /// indication goes to the completion worker as before). Null (the default): everything goes through the worker.
    /// The daemon sets it (off with <c>OFFLOADEMU_ENGINE_WRITES=0</c>).</summary>
    public Chimney.CompletionQueue? EngineCompletions { get; init; }

    /// <summary>Checks the settings; returns one line per problem.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Path)) errors.Add("Path: empty; give the socket path.");
        else if (System.Text.Encoding.UTF8.GetByteCount(Path) > 107) errors.Add("Path: longer than 107 bytes (sun_path).");
        if (MaxMessageSize < 64 * 1024) errors.Add("MaxMessageSize: below 64 KiB.");
        if (MaxQueuedBytes < 2L * MaxMessageSize) errors.Add("MaxQueuedBytes: below twice MaxMessageSize.");
        if (MaxUnconsumedReceiveBytes < 1024) errors.Add("MaxUnconsumedReceiveBytes: below 1 KiB.");
        if (MaxSessions < 1) errors.Add("MaxSessions: at least 1.");
        if (ReadTimeout < TimeSpan.FromMilliseconds(100) || ReadTimeout > TimeSpan.FromHours(1)) errors.Add("ReadTimeout: between 100 ms and 1 hour.");
        return errors;
    }
}
