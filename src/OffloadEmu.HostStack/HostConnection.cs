using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>
/// One connection as the engine loop sees it: the host TCP machine while in host mode, the chimney handle and context
/// while offloaded, the send chunks in stream order, segments held while an offload or upload is in progress. Only the
/// engine loop touches it (no locks); applications reach it through <see cref="OffloadSocket"/> and the inbox, the
/// chimney receive callbacks only through its <see cref="ReceiveQueue"/> and the volatile fields marked so.
/// </summary>
internal sealed class HostConnection : ITcpReceiveConsumer, ITcpSendCompletionSink
{
    private volatile int _location;

    public HostConnection(HostStack stack, OffloadSocket socket, ConnectionKey key)
    {
        Stack = stack;
        Socket = socket;
        Key = key;
    }

    public HostStack Stack { get; }

    public OffloadSocket Socket { get; }

    public ConnectionKey Key { get; }

    public ReceiveQueue Rx => Socket.Rx;

    public HostPath? Path { get; set; }

    public TcpMachine? Machine { get; set; }

    /// <summary>Where the connection sits in the stack's list of connections that run a machine here (timers are polled
    /// over that list only), or -1.</summary>
    public int MachineListIndex { get; set; } = -1;

    public ConnectionLocation Location
    {
        get => (ConnectionLocation)_location;
        set => _location = (int)value;
    }

    public bool IsIpv6 => Key.Remote.IsIpv6;

    public TcpEndpointAddresses Addresses => Key.Remote.IsIpv6
        ? TcpEndpointAddresses.Ipv6(Stack.Address6, Key.Remote.Ipv6)
        : TcpEndpointAddresses.Ipv4(Stack.Address, Key.Remote.Ipv4);

    // ---- chimney ----
    public ulong Handle { get; set; }

    public OffloadContextSlot? Slot { get; set; }

    public TcpConstState Const { get; set; }

    public TcpCachedState Cached { get; set; }

    /// <summary>Chunks handed to the machine or the target and not completed, in stream order.</summary>
    public Queue<SendChunk> Inflight { get; } = new();

    /// <summary>Chunks written by the application and not yet handed on (offload in progress, backlog full).</summary>
    public Queue<SendChunk> Pending { get; } = new();

    /// <summary>TCP segments that arrived while an offload or upload was in progress (pooled copies).</summary>
    public List<(byte[] Buffer, int Length)> Held { get; } = [];

    /// <summary>The first chunk's NB window before it was advanced for an initiate (restored if the initiate fails).</summary>
    public (SendChunk Chunk, int Offset, int Length)? AdvancedHead { get; set; }

    public bool PostOutstanding { get; set; }

    // ---- direct offloaded I/O (docs/hoststack.md "Threads") ----
    // While the connection is offloaded and quiet, the application's writes and reads issue TcpOffloadSend and
    // TcpOffloadReceive themselves and the completions are handled on the thread that delivers them, without a hop
    // through the engine loop. Everything those paths touch (Pending, Inflight, OffloadOutstanding, SendBacklog,
    // PostOutstanding, the chunks' Done, and the gates below) is then touched only under IoGate, by the loop as well;
    // the loop closes a gate under IoGate before anything that changes the connection's state (upload, shutdown,
    // abort, failure), so a request issued through an open gate always reaches the target before that change.

    /// <summary>Guards the direct I/O state (see above).</summary>
    public readonly Lock IoGate = new();

    /// <summary>Under <see cref="IoGate"/>: an application write may hand its chunk to the target itself.</summary>
    public bool DirectSend;

    /// <summary>Under <see cref="IoGate"/>: an application read may post its receive buffer itself, and receive
    /// completions are handled where they arrive.</summary>
    public bool DirectReceive;

    /// <summary>Under <see cref="IoGate"/>: Send commands posted to the loop and not yet handled; a direct write waits for
    /// them (stream order).</summary>
    public int SendsQueued;

    /// <summary>Set by the indication callback when it refused (part of) an indication; the next post re-arms.</summary>
    public volatile bool IndicationsBlocked;

    public uint SendBacklog { get; set; }

    public long OffloadOutstanding { get; set; }

    public int ForwardsOutstanding { get; set; }

    public bool ShutdownRequested { get; set; }

    public bool FinIssued { get; set; }

    public TaskCompletionSource? ShutdownTcs { get; set; }

    public bool CloseRequested { get; set; }

    public bool AbortRequested { get; set; }

    public bool PeerFinPending { get; set; }

    public bool Failed { get; set; }

    public TaskCompletionSource<OffloadSocket>? ConnectTcs { get; set; }

    public OffloadListener? Listener { get; set; }

    /// <summary>Counted in its listener's half-open connections (passive, handshake not finished).</summary>
    public bool HalfOpen { get; set; }

    /// <summary>The target reported a hardware failure on this connection (Retrieve(HardwareFailure), spec §6.6): the
    /// Abort that follows fails it with ConnectionAborted, not as a peer reset.</summary>
    public bool TargetFailed { get; set; }

    /// <summary>The offload policy may offload this connection (cleared after a user upload or a failed initiate).</summary>
    public bool AutoOffload { get; set; } = true;

    public TaskCompletionSource<bool>? OffloadTcs { get; set; }

    public TaskCompletionSource? UploadTcs { get; set; }

    /// <summary>The terminate was started to release the connection (closed, reset or aborted), not to continue it.</summary>
    public bool Releasing { get; set; }

    public int OffloadCount { get; set; }

    /// <summary>TCP statistics of earlier host-mode machines (added when a machine is handed over).</summary>
    public TcpStatistics PastHostStatistics;

    /// <summary>Waiting in the stack's offload queue.</summary>
    public bool OffloadQueued { get; set; }

    /// <summary>The graceful disconnect request with the target, if any.</summary>
    public NetBufferList? DisconnectNbl { get; set; }

    /// <summary>The abortive disconnect request with the target, if any.</summary>
    public NetBufferList? AbortNbl { get; set; }

    public int UploadCount { get; set; }

    /// <summary>A synthetic offload (no handshake, supplied state) until its initiate and query completed.</summary>
    public SyntheticOffload? Synthetic { get; set; }

    /// <inheritdoc/>
    public int Deliver(ReadOnlySpan<byte> data) => Rx.AppendWithinLimit(data);

    /// <inheritdoc/>
    public void OnSendCompleted(ITcpSendBuffer buffer, int byteCount)
    {
        ((SendChunk)buffer).Done = true;
        Stack.ReleaseDoneChunks(this);
    }

    public override string ToString() => $"conn {(IsIpv6 ? Stack.Address6.ToString() : Stack.Address.ToString())}:{Key.LocalPort} <> {Key.Remote}:{Key.RemotePort} {Location} {Machine?.State}";
}
