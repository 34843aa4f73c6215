namespace OffloadEmu.Target;

/// <summary>What a request entering the engine asks for.</summary>
internal enum RequestKind : byte
{
    Initiate,
    Terminate,
    Update,
    Invalidate,
    Query,
    Send,
    Receive,
    Disconnect,
    Forward,
    /// <summary>The host answered a receive indication (posted back from the completion thread).</summary>
    IndicationAnswered,
    /// <summary>The host answered a neighbour reachability query.</summary>
    NeighborQueryAnswered,
    /// <summary>Test and operator commands: adapter status and injected faults.</summary>
    Pause,
    UploadAll,
    Resume,
    HardwareFailure,
    RequestUpload,
    /// <summary>A copy of every connection's state for status tools (<see cref="OffloadTarget.SnapshotConnectionsAsync"/>).</summary>
    Snapshot,
    /// <summary>A loop other than the coordinator drained one connection of a terminate (multi-loop targets).</summary>
    TerminateFinished,
}
