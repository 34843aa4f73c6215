namespace OffloadEmu.HostStack;

/// <summary>What an inbox command asks of the engine loop.</summary>
internal enum CommandKind
{
    Frame,
    Connect,
    Listen,
    StopListen,
    Resolve,
    Send,
    ReadRequested,
    Shutdown,
    Close,
    Abort,
    Upload,
    Offload,
    InitiateComplete,
    TerminateComplete,
    SendComplete,
    ReceiveComplete,
    DisconnectComplete,
    ForwardComplete,
    TcpEvent,
    ReceiveReturn,
    AdapterStatus,
    Statistics,
    UpdateComplete,
    SyntheticOffload,
    QueryComplete,
    NeighborQueried,
    InvalidateComplete,
    Describe,
}
