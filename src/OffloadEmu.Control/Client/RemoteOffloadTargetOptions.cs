namespace OffloadEmu.Control.Client;

/// <summary>Settings of a <see cref="RemoteOffloadTarget"/>.</summary>
public sealed record class RemoteOffloadTargetOptions
{
    /// <summary>The name the client gives in its hello (shown in the daemon's log).</summary>
    public string ClientName { get; init; } = $"pid {Environment.ProcessId}";

    /// <summary>Host (default), or <see cref="ClientRole.Monitor"/> for a status tool: the server then accepts only
    /// queries (<see cref="RemoteOffloadTarget.QueryStatusAsync"/>, statistics, parameters) and sends no indications,
    /// events, adapter status or frames.</summary>
    public ClientRole Role { get; init; } = ClientRole.Host;

    /// <summary>Largest payload accepted from the server.</summary>
    public int MaxMessageSize { get; init; } = Protocol.ControlProtocol.DefaultMaxMessageSize;

    /// <summary>How long the synchronous calls (hello, SetParameters, statistics) wait for the server.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Runs host callbacks (completions, indications, events) on the control connection's receive thread when the
    /// dispatch queue is idle, instead of handing each message to the dispatch worker on the thread pool: one thread
    /// wake-up less per message (docs/control.md, "Threads and copies"). Order is the same: callbacks still run one at a
    /// time in the order the messages came, after anything queued before. The contract: a callback that blocks stalls
    /// that connection's receipt (no completion, indication or reply is read meanwhile), and a callback must not call the
    /// synchronous requests (SetParameters, the statistics, QueryParameters: their replies are read by this thread; they
    /// throw <see cref="InvalidOperationException"/> there). Off by default; <c>offloademu</c> turns it on (its host
    /// stack's callbacks do not block).
    /// </summary>
    public bool InlineHostCallbacks { get; init; }

    /// <summary>Indicated bytes taken by the host before the client reports them to the server (receive credit).</summary>
    public int ConsumedReportBytes { get; init; } = 64 * 1024;
}
