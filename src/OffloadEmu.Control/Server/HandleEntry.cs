using OffloadEmu.Chimney;

namespace OffloadEmu.Control.Server;

/// <summary>One offloaded object of one session: the server's handle given to the target, the client's handle, the
/// target's context once installed, and the receive credit of a TCP connection.</summary>
internal sealed class HandleEntry(ControlSession session, ulong serverHandle, ulong clientHandle, OffloadBlockType type)
{
    public ControlSession Session { get; } = session;
    public ulong ServerHandle { get; } = serverHandle;
    public ulong ClientHandle { get; } = clientHandle;
    public OffloadBlockType Type { get; } = type;
    public ulong Context { get; set; }

    /// <summary>A terminate of the object went down: new I/O is completed by the server (UPLOAD_IN_PROGRESS).</summary>
    public volatile bool TearingDown;

    /// <summary>Bytes indicated to the client and not yet reported consumed (guarded by the entry).</summary>
    public long Unconsumed;

    /// <summary>An indication was refused for credit: re-arm with a zero-byte post once the client catches up.</summary>
    public bool Blocked;
}
