using OffloadEmu.Chimney;

namespace OffloadEmu.Target;

/// <summary>One request waiting for the engine: a plain struct in a ring, so queuing allocates nothing.</summary>
internal readonly struct TargetRequest
{
    public TargetRequest(RequestKind kind, ulong context = 0, object? argument = null, int value = 0, NdisStatus status = NdisStatus.Success)
    {
        Kind = kind;
        Context = context;
        Argument = argument;
        Value = value;
        Status = status;
    }

    public RequestKind Kind { get; }

    /// <summary>The connection's context id for TCP I/O.</summary>
    public ulong Context { get; }

    /// <summary>The root block, the NBL chain, or the engine object the request is about.</summary>
    public object? Argument { get; }

    /// <summary>Disconnect flags, bytes consumed, upload reason.</summary>
    public int Value { get; }

    /// <summary>The host's answer to an indication.</summary>
    public NdisStatus Status { get; }
}
