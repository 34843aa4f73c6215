namespace OffloadEmu.Chimney;

/// <summary>One queued completion or indication of a <see cref="CompletionQueue"/>: a value, so the queue's ring holds no per-item objects.</summary>
/// <remarks>
/// Architecture §3: completions leave a target through the queue. The fields are a union over
/// <see cref="CompletionKind"/>: <see cref="Argument"/> is the root block, NBL chain or callback state;
/// <see cref="Handle"/>, <see cref="Code"/> and <see cref="Info"/> carry an event's handle, type/code/status and info.
/// </remarks>
internal readonly struct CompletionWork
{
    public CompletionWork(CompletionKind kind, IOffloadHost? host, object? argument, Action<object?>? callback = null, ulong handle = 0, uint code = 0, uint info = 0)
    {
        Kind = kind;
        Host = host;
        Argument = argument;
        Callback = callback;
        Handle = handle;
        Code = code;
        Info = info;
    }

    public CompletionKind Kind { get; }

    public IOffloadHost? Host { get; }

    public object? Argument { get; }

    public Action<object?>? Callback { get; }

    public ulong Handle { get; }

    public uint Code { get; }

    public uint Info { get; }

    /// <summary>Runs the item: calls the host handler its kind names, or the callback.</summary>
    public void Invoke()
    {
        switch (Kind)
        {
            case CompletionKind.Callback or CompletionKind.IndicationCallback: Callback!(Argument); break;
            case CompletionKind.InitiateOffloadComplete: Host!.InitiateOffloadComplete((OffloadBlock)Argument!); break;
            case CompletionKind.TerminateOffloadComplete: Host!.TerminateOffloadComplete((OffloadBlock)Argument!); break;
            case CompletionKind.UpdateOffloadComplete: Host!.UpdateOffloadComplete((OffloadBlock)Argument!); break;
            case CompletionKind.InvalidateOffloadComplete: Host!.InvalidateOffloadComplete((OffloadBlock)Argument!); break;
            case CompletionKind.QueryOffloadStateComplete: Host!.QueryOffloadStateComplete((OffloadBlock)Argument!); break;
            case CompletionKind.TcpOffloadSendComplete: Host!.TcpOffloadSendComplete((NetBufferList)Argument!); break;
            case CompletionKind.TcpOffloadReceiveComplete: Host!.TcpOffloadReceiveComplete((NetBufferList)Argument!); break;
            case CompletionKind.TcpOffloadDisconnectComplete: Host!.TcpOffloadDisconnectComplete((NetBufferList)Argument!); break;
            case CompletionKind.TcpOffloadForwardComplete: Host!.TcpOffloadForwardComplete((NetBufferList)Argument!); break;
            case CompletionKind.TcpOffloadEvent: Host!.TcpOffloadEvent(Handle, (TcpOffloadEventType)Code, Info); break;
            case CompletionKind.NeighborOffloadEvent: Host!.NeighborOffloadEvent((OffloadBlock)Argument!, (NeighborEventCode)Code); break;
            case CompletionKind.IndicateStatus: Host!.IndicateStatus((NdisStatus)Code); break;
            default: throw new InvalidOperationException($"Unknown completion kind {Kind}.");
        }
    }
}
