using System.Collections.Concurrent;
using OffloadEmu.Chimney;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Server;

/// <summary>
/// The one host bound to the target: routes every completion and indication to the session that owns it. State trees
/// carry their <see cref="ServerCall"/> in the root's ImReserved, NBLs their <see cref="ServerNbl"/> in
/// ProtocolReserved, indications and events a server handle looked up in one table. Adapter status and non-offload
/// frames go to every session (each bound client is like one protocol bound to the NIC).
/// </summary>
/// <remarks>As an <see cref="IEngineThreadHost"/> (<see cref="ControlServerOptions.EngineCompletions"/>) it takes I/O
/// completions and small indications on the target's engine thread when every session they go to can write at once:
/// it only encodes them into the session's queue, whose write the engine does at the end of its round without
/// blocking. It is the emulator's own code, not a host's: host code never runs on the engine thread.</remarks>
internal sealed class TargetMultiplexer : IOffloadHost, IEngineThreadHost, IDisposable
{
    private static long s_lastHandle;

    private readonly ConcurrentDictionary<ulong, HandleEntry> _handles = new();
    private readonly ConcurrentDictionary<ControlSession, byte> _sessions = new();
    private readonly ConcurrentQueue<(NetBufferList Nbl, long At)> _returns = new();

    public TargetMultiplexer(IOffloadTarget target)
    {
        Target = target;
        target.Bind(this);
    }

    public IOffloadTarget Target { get; }

    public int HandleCount => _handles.Count;

    public IEnumerable<ControlSession> Sessions => _sessions.Keys;

    public void Add(ControlSession session) => _sessions[session] = 0;

    public void Remove(ControlSession session) => _sessions.TryRemove(session, out _);

    public HandleEntry NewEntry(ControlSession session, ulong clientHandle, OffloadBlockType type)
    {
        // A distinct prefix makes a leaked server handle easy to spot in traces.
        var entry = new HandleEntry(session, 0x5E00_0000_0000_0000UL | (ulong)Interlocked.Increment(ref s_lastHandle), clientHandle, type);
        _handles[entry.ServerHandle] = entry;
        return entry;
    }

    public void RemoveEntry(HandleEntry entry) => _handles.TryRemove(entry.ServerHandle, out _);

    public bool TryGetEntry(ulong serverHandle, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out HandleEntry entry)
        => _handles.TryGetValue(serverHandle, out entry);

    // ---- on the engine thread ----------------------------------------------------------------------------------------

    /// <summary>Largest indication the engine thread encodes itself; a larger one (bulk receive) goes to the completion
    /// worker, which then copies it while the engine goes on.</summary>
    public const int MaxEngineIndicationBytes = 16 * 1024;

    /// <summary>Most NBLs of one completion the engine thread encodes itself.</summary>
    public const int MaxEngineChain = 64;

    public bool TakesIoCompletion(NetBufferList chain)
    {
        int n = 0;
        ControlSession? last = null;
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            if (++n > MaxEngineChain) return false;
            if (nbl.ProtocolReserved is not ServerNbl { Session: { } session }) return false;
            if (session == last) continue;
            if (!session.CanWriteFromEngine(0)) return false;
            last = session;
        }
        return true;
    }

    public bool TakesIndication(ulong ndisOffloadHandle, int length)
        => length <= MaxEngineIndicationBytes && _handles.TryGetValue(ndisOffloadHandle, out var entry) && entry.Session.CanWriteFromEngine(length);

    // ---- state completions -------------------------------------------------------------------------------------------

    public void InitiateOffloadComplete(OffloadBlock root) => StateComplete(root);

    public void TerminateOffloadComplete(OffloadBlock root) => StateComplete(root);

    public void UpdateOffloadComplete(OffloadBlock root) => StateComplete(root);

    public void InvalidateOffloadComplete(OffloadBlock root) => StateComplete(root);

    public void QueryOffloadStateComplete(OffloadBlock root) => StateComplete(root);

    private void StateComplete(OffloadBlock root)
    {
        DrainReturns(0);
        if (root.ImReserved is not ServerCall call) throw new InvalidOperationException($"Completion of a tree the control server never issued ({root}).");
        root.ImReserved = null;
        try
        {
            call.Session.OnStateComplete(call, root);
        }
        catch (Exception ex)
        {
            call.Session.Fail(ex);
        }
    }

    // ---- I/O completions ---------------------------------------------------------------------------------------------

    public void TcpOffloadSendComplete(NetBufferList chain) => IoComplete(MessageType.TcpSendComplete, chain);

    public void TcpOffloadDisconnectComplete(NetBufferList nbl) => IoComplete(MessageType.TcpDisconnectComplete, nbl);

    public void TcpOffloadForwardComplete(NetBufferList chain) => IoComplete(MessageType.TcpForwardComplete, chain);

    public void TcpOffloadReceiveComplete(NetBufferList chain) => IoComplete(MessageType.TcpReceiveComplete, chain);

    private void IoComplete(MessageType type, NetBufferList chain)
    {
        DrainReturns(0);
        // Completions may batch NBLs of several sessions: split the chain by owner, keeping order. The list is this
        // thread's, reused (a completion allocates nothing here): a session only reads it during the call.
        ControlSession? current = null;
        var batch = t_batch ??= new List<NetBufferList>(16);
        batch.Clear();
        try
        {
            for (var nbl = chain; nbl is not null;)
            {
                var next = nbl.Next;
                nbl.Next = null;
                var owner = (nbl.ProtocolReserved as ServerNbl)?.Session
                    ?? throw new InvalidOperationException($"Completion of an NBL the control server never issued ({nbl}).");
                if (current is not null && owner != current)
                {
                    Deliver(current, type, batch);
                    batch.Clear();
                }
                current = owner;
                batch.Add(nbl);
                nbl = next;
            }
            if (current is not null) Deliver(current, type, batch);
        }
        finally
        {
            batch.Clear();
        }
    }

    [ThreadStatic]
    private static List<NetBufferList>? t_batch;

    // A session that fails while handling a callback is closed; the target's completion thread and the other sessions go on.
    private static void Deliver(ControlSession session, MessageType type, List<NetBufferList> batch)
    {
        try
        {
            session.OnIoComplete(type, batch);
        }
        catch (Exception ex)
        {
            session.Fail(ex);
        }
    }

    // ---- indications -------------------------------------------------------------------------------------------------

    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        DrainReturns(0);
        bytesConsumed = 0;
        if (!_handles.TryGetValue(ndisOffloadHandle, out var entry)) return NdisStatus.OffloadDataNotAccepted;
        int length = (int)nbl.DataLength;
        try
        {
            if (!entry.Session.TryIndicate(entry, nbl, length)) return NdisStatus.OffloadDataNotAccepted;
        }
        catch (Exception ex)
        {
            entry.Session.Fail(ex);
            return NdisStatus.OffloadDataNotAccepted;
        }
        // The bytes are in the client's queue now: the NBL goes back to the target right after this call returns (not
        // inside it: the target marks it host-held only once the answer is back).
        _returns.Enqueue((nbl, Environment.TickCount64));
        bytesConsumed = length;
        return NdisStatus.Success;
    }

    /// <summary>Gives the target its indication NBLs back, at the start of the next callback: only then is it sure the
    /// target has seen the answer and marked them host-held (a return inside the indication would be ignored).</summary>
    public void DrainReturns(long minAgeMs)
    {
        long now = Environment.TickCount64;
        while (_returns.TryPeek(out var item))
        {
            if (minAgeMs > 0 && now - item.At < minAgeMs) return;
            if (!_returns.TryDequeue(out item)) return;
            item.Nbl.Next = null;
            Target.TcpOffloadReceiveReturn(item.Nbl);
        }
    }

    /// <summary>Gives a BufferedData chain from a terminate back to the target (its bytes were copied to the client).</summary>
    public void ReturnNow(NetBufferList chain) => Target.TcpOffloadReceiveReturn(chain);

    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info)
    {
        DrainReturns(0);
        if (_handles.TryGetValue(ndisOffloadHandle, out var entry))
            entry.Session.Send(new TcpEventMessage { Handle = entry.ClientHandle, EventType = type, Info = info });
    }

    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
    {
        DrainReturns(0);
        if (!_handles.TryGetValue(neighborBlock.NdisOffloadHandle, out var entry)) return;
        // The answer cannot wait for the client: the block goes back with the host reachability delta the host gave
        // last (initiate or update), and the client's host sees the event and may update (docs/control.md).
        ulong serverHandle = neighborBlock.NdisOffloadHandle;
        neighborBlock.NdisOffloadHandle = entry.ClientHandle;
        try
        {
            entry.Session.Send(new NeighborEventMessage { Code = code, Block = neighborBlock });
        }
        finally
        {
            neighborBlock.NdisOffloadHandle = serverHandle;
        }
    }

    public void IndicateStatus(NdisStatus adapterStatus)
    {
        DrainReturns(0);
        var message = new AdapterStatusMessage { Status = adapterStatus, Capabilities = Target.CurrentCapabilities };
        foreach (var session in _sessions.Keys) session.Send(message);
    }

    public void ReceiveFrame(ReadOnlySpan<byte> frame)
    {
        DrainReturns(0);
        foreach (var session in _sessions.Keys) session.SendFrame(frame);
    }

    public void Dispose()
    {
        DrainReturns(0);
    }
}
