namespace OffloadEmu.Target;

/// <summary>A <see cref="RequestKind.Snapshot"/> request: answered on the engine thread (the only thread that may read
/// connection state), completed with continuations off that thread.</summary>
internal sealed class ConnectionSnapshotRequest(int max)
{
    /// <summary>Most connections to copy; the rest are only counted.</summary>
    public int Max { get; } = max;

    public TaskCompletionSource<(IReadOnlyList<OffloadedConnectionInfo> Connections, int Total)> Result { get; }
        = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
