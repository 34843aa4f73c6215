namespace OffloadEmu.Control.Protocol;

/// <summary>The state operation a <see cref="MessageType.StateComplete"/> completes.</summary>
public enum StateOperation : byte
{
    /// <summary>InitiateOffload.</summary>
    Initiate = 0,
    /// <summary>TerminateOffload.</summary>
    Terminate = 1,
    /// <summary>UpdateOffload.</summary>
    Update = 2,
    /// <summary>InvalidateOffload.</summary>
    Invalidate = 3,
    /// <summary>QueryOffloadState.</summary>
    Query = 4,
}
