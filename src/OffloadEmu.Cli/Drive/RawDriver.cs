using System.Collections.Concurrent;
using System.Text.Json;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Client;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli.Drive;

/// <summary>
/// The drive's own host on the daemon's target (one control session): synthetic offloads and every low-level request
/// on them go straight through the chimney contract, and every completion and indication of the session becomes an
/// event. Callbacks run on <see cref="RemoteOffloadTarget"/>'s dispatch queue; they copy what they need and queue event
/// lines, never waiting on the drive's own I/O.
/// </summary>
internal sealed class RawDriver : IOffloadHost
{
    private readonly RemoteOffloadTarget _target;
    private readonly DriveEventWriter _events;
    private readonly ConcurrentDictionary<int, RawConnection> _connections = new();
    private readonly ConcurrentDictionary<OffloadBlock, StateCall> _calls = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<OffloadBlock, string> _initiates = new(ReferenceEqualityComparer.Instance);
    private long _framesUp;
    private volatile uint _tickRate = OffloadParameters.Default.TicksPerSecond;

    public RawDriver(RemoteOffloadTarget target, DriveEventWriter events)
    {
        _target = target;
        _events = events;
        target.Bind(this);
    }

    public RemoteOffloadTarget Target => _target;

    public bool Owns(int conn) => _connections.ContainsKey(conn);

    /// <summary>Frames from the non-offload path seen by this session (reported one by one only with
    /// <see cref="ReportFrames"/>).</summary>
    public long FramesUp => Interlocked.Read(ref _framesUp);

    /// <summary>Every frame from the non-offload path becomes a <c>frame_up</c> event (bind's <c>frames</c>): what a
    /// conformance test sent that the target passed up to the host instead of processing.</summary>
    public bool ReportFrames { get; set; }

    /// <summary>The tick rate reported with <c>offloaded</c> (the unit of ts_time); from the parameters query.</summary>
    public uint TickRate
    {
        get => _tickRate;
        set => _tickRate = value;
    }

    // ---- requests ------------------------------------------------------------------------------------------------------

    /// <summary>Synthetic offload: a new neighbour → path → TCP tree with the caller's state; the reply
    /// (<c>offloaded</c>) follows the initiate and a query of the target's TsTime.</summary>
    public void Offload(DriveRequest r, int conn, SyntheticSpec spec, Ipv4Address localAddress)
    {
        var c = new RawConnection(conn, spec);
        _connections[conn] = c;
        var neighbor = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            MiniportOffloadContext = c.NeighborSlot,
            NdisOffloadHandle = c.NeighborHandle,
            NeighborConst = new NeighborConstState { DlSourceAddress = _target.MacAddress, VlanId = spec.VlanId },
            NeighborCached = new NeighborCachedState { DlDestinationAddress = spec.RemoteMac, HostReachabilityDelta = 0 },
            NeighborDelegated = new NeighborDelegatedState(),
        };
        var path = new OffloadBlock(OffloadBlockType.Ip4OffloadState)
        {
            MiniportOffloadContext = c.PathSlot,
            NdisOffloadHandle = c.PathHandle,
            PathConst = new PathConstState { SourceAddress = localAddress, DestinationAddress = spec.RemoteAddress },
            PathCached = new PathCachedState { PathMtu = spec.PathMtu ?? (uint)_target.Mtu },
            PathDelegated = new PathDelegatedState(),
        };
        var d = spec.Delegated;
        var tcp = new OffloadBlock(OffloadBlockType.TcpOffloadState)
        {
            MiniportOffloadContext = c.TcpSlot,
            NdisOffloadHandle = c.TcpHandle,
            TcpConst = spec.Const,
            TcpCached = spec.Cached,
            TcpDelegated = d with { SendDataHead = null, SendDataTail = null, BufferedData = null },
        };
        neighbor.AddDependent(path);
        path.AddDependent(tcp);
        _initiates[neighbor] = r.IdJson;
        State(c, "offloading");
        _target.InitiateOffload(neighbor);
    }

    public void Send(DriveRequest r, int conn, byte[] data)
    {
        var c = Offloaded(conn);
        var nbl = new NetBufferList(1, 1) { ProtocolReserved = new IoTag(conn, r.IdJson) };
        nbl.AddBuffer().AddSegment(data);
        _target.TcpOffloadSend(c.TcpSlot.Context, nbl);
    }

    /// <summary>Forward (spec §4): a TCP segment, header first, handed to the target as the host stack hands it one it
    /// reassembled or held; <c>forward_complete</c> follows.</summary>
    public void Forward(DriveRequest r, int conn, byte[] segment)
    {
        var c = Offloaded(conn);
        var nbl = new NetBufferList(1, 1) { ProtocolReserved = new IoTag(conn, r.IdJson) };
        nbl.AddBuffer().AddSegment(segment);
        _target.TcpOffloadForward(c.TcpSlot.Context, nbl);
    }

    public void PostReceive(DriveRequest r, int conn, int size, bool push)
    {
        var c = Offloaded(conn);
        var nbl = new NetBufferList(1, 1) { ProtocolReserved = new IoTag(conn, r.IdJson), TcpReceiveNoPush = !push };
        var nb = nbl.AddBuffer();
        if (size > 0) nb.AddWritableSegment(new byte[size]);
        _target.TcpOffloadReceive(c.TcpSlot.Context, nbl);
    }

    public void Disconnect(DriveRequest r, int conn, bool abortive)
    {
        var c = Offloaded(conn);
        var nbl = new NetBufferList(1, 1) { ProtocolReserved = new IoTag(conn, r.IdJson) };
        nbl.AddBuffer();
        _target.TcpOffloadDisconnect(c.TcpSlot.Context, nbl, abortive ? TcpDisconnectFlags.Abortive : TcpDisconnectFlags.Graceful);
    }

    public void Read(DriveRequest r, int conn, int max)
    {
        var c = Known(conn);
        var bytes = c.Take(max);
        _events.Emit("data", r.IdJson, w =>
        {
            w.WriteNumber("conn", conn);
            w.WriteNumber("length", bytes.Length);
            w.WriteString("base64", Convert.ToBase64String(bytes));
            w.WriteNumber("delivered_total", c.DeliveredTotal);
        });
    }

    public void Update(DriveRequest r, int conn, TcpCachedState cached)
    {
        var c = Offloaded(conn);
        var tcp = Linker(c);
        tcp.TcpCached = cached;
        Issue(new StateCall("update", r.IdJson, c), tcp, _target.UpdateOffload);
    }

    public void Invalidate(DriveRequest r, int conn) => Issue(new StateCall("invalidate", r.IdJson, Offloaded(conn)), Linker(Offloaded(conn)), _target.InvalidateOffload);

    public void Query(DriveRequest r, int conn) => Issue(new StateCall("query", r.IdJson, Offloaded(conn)), Linker(Offloaded(conn)), _target.QueryOffloadState);

    /// <summary>Terminates the connection with its path and neighbour (they are its own).</summary>
    public void Terminate(string? idJson, int conn)
    {
        var c = Offloaded(conn);
        var neighbor = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = c.NeighborSlot, NdisOffloadHandle = c.NeighborHandle };
        var path = new OffloadBlock(OffloadBlockType.Ip4OffloadState) { MiniportOffloadContext = c.PathSlot, NdisOffloadHandle = c.PathHandle };
        neighbor.AddDependent(path);
        path.AddDependent(Linker(c));
        State(c, "terminating");
        Issue(new StateCall("terminate", idJson, c), neighbor, _target.TerminateOffload);
    }

    /// <summary>At the end of the session: abortive disconnect then terminate of every connection still offloaded.</summary>
    public async Task AbortAllAsync(TimeSpan timeout)
    {
        foreach (var c in _connections.Values)
        {
            if (c.Location != "offloaded") continue;
            var nbl = new NetBufferList(1, 1) { ProtocolReserved = new IoTag(c.Conn, "null") };
            nbl.AddBuffer();
            _target.TcpOffloadDisconnect(c.TcpSlot.Context, nbl, TcpDisconnectFlags.Abortive);
            Terminate(null, c.Conn);
        }
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && (!_calls.IsEmpty || !_initiates.IsEmpty) && _target.IsConnected) await Task.Delay(10).ConfigureAwait(false);
    }

    private static OffloadBlock Linker(RawConnection c)
        => new(OffloadBlockType.TcpOffloadState) { MiniportOffloadContext = c.TcpSlot, NdisOffloadHandle = c.TcpHandle };

    private void Issue(StateCall call, OffloadBlock root, Func<OffloadBlock, NdisStatus> op)
    {
        _calls[root] = call;
        op(root);
    }

    private RawConnection Known(int conn)
        => _connections.TryGetValue(conn, out var c) ? c : throw new DriveRequestException($"unknown conn {conn}");

    private RawConnection Offloaded(int conn)
    {
        var c = Known(conn);
        return c.Location == "offloaded" ? c : throw new DriveRequestException($"conn {conn} is {c.Location}, not offloaded");
    }

    private void State(RawConnection c, string location)
    {
        c.Location = location;
        _events.Emit("state", null, w =>
        {
            w.WriteNumber("conn", c.Conn);
            w.WriteString("location", location);
            if (c.TcpState is { } s) w.WriteString("tcp_state", s.ToString());
        });
    }

    private void ReportTcpState(RawConnection c, TcpState state)
    {
        if (c.TcpState == state) return;
        c.TcpState = state;
        State(c, c.Location);
    }

    // ---- IOffloadHost --------------------------------------------------------------------------------------------------

    public void InitiateOffloadComplete(OffloadBlock root)
    {
        if (!_initiates.TryRemove(root, out string? id)) return;
        var path = root.DependentBlockList!;
        var tcp = path.DependentBlockList!;
        var c = _connections[RawConnection.ConnOf(tcp.NdisOffloadHandle)];
        if (tcp.Status == NdisStatus.Success)
        {
            c.Location = "offloaded";
            if (tcp.TcpDelegated is { } d) c.TcpState = d.State;
            // The reply waits for the target's timestamp clock of the connection (a query of its delegated TsTime).
            Issue(new StateCall("offload", id, c), Linker(c), _target.QueryOffloadState);
            return;
        }
        _events.Emit("error", id, w =>
        {
            w.WriteNumber("conn", c.Conn);
            w.WriteString("error", $"the target refused the offload: TCP block {DriveJson.StatusName(tcp.Status)}");
            w.WriteString("status", DriveJson.StatusName(tcp.Status));
            DriveJson.Statuses(w, root);
        });
        State(c, "failed");
        // Whatever the target took (neighbour, path) goes back at once: the objects are this connection's alone.
        OffloadBlock? back = null;
        if (root.Status == NdisStatus.Success)
        {
            back = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = c.NeighborSlot, NdisOffloadHandle = c.NeighborHandle };
            if (path.Status == NdisStatus.Success)
                back.AddDependent(new OffloadBlock(OffloadBlockType.Ip4OffloadState) { MiniportOffloadContext = c.PathSlot, NdisOffloadHandle = c.PathHandle });
        }
        if (back is not null) Issue(new StateCall("cleanup", null, c), back, _target.TerminateOffload);
    }

    public void TerminateOffloadComplete(OffloadBlock root)
    {
        if (!_calls.TryRemove(root, out var call)) return;
        var c = call.Connection;
        if (call.Op == "cleanup") return;
        var tcp = root.DependentBlockList?.DependentBlockList ?? root;
        var d = tcp.TcpDelegated;
        long returnedSend = 0;
        for (var nbl = d?.SendDataHead ?? tcp.NetBufferListChain; nbl is not null; nbl = nbl.Next)
        {
            returnedSend += nbl.DataLength;
            if (d is not null && ReferenceEquals(nbl, d.SendDataTail)) break;
        }
        byte[] buffered = [];
        if (d?.BufferedData is { } data)
        {
            using var ms = new MemoryStream();
            for (var nbl = data; nbl is not null; nbl = nbl.Next)
            {
                var bytes = new byte[nbl.DataLength];
                int done = 0;
                for (int i = 0; i < nbl.BufferCount; i++) done += nbl[i].CopyTo(0, bytes.AsSpan(done));
                ms.Write(bytes, 0, done);
            }
            buffered = ms.ToArray();
            _target.TcpOffloadReceiveReturn(data);
        }
        if (d is not null) c.TcpState = d.State;
        c.Location = "terminated";
        _events.Emit("terminated", call.IdJson ?? "null", w =>
        {
            w.WriteNumber("conn", c.Conn);
            w.WriteString("status", DriveJson.StatusName(tcp.Status));
            DriveJson.Statuses(w, root);
            if (d is not null) DriveJson.Delegated(w, "delegated", d);
            w.WriteNumber("send_data_returned", returnedSend);
            w.WriteNumber("buffered_length", buffered.Length);
            w.WriteString("buffered_base64", Convert.ToBase64String(buffered));
        });
        State(c, "terminated");
    }

    public void UpdateOffloadComplete(OffloadBlock root) => Simple("updated", root);

    public void InvalidateOffloadComplete(OffloadBlock root) => Simple("invalidated", root);

    private void Simple(string name, OffloadBlock root)
    {
        if (!_calls.TryRemove(root, out var call)) return;
        _events.Emit(name, call.IdJson ?? "null", w =>
        {
            w.WriteNumber("conn", call.Connection.Conn);
            w.WriteString("status", DriveJson.StatusName(root.Status));
        });
    }

    public void QueryOffloadStateComplete(OffloadBlock root)
    {
        if (!_calls.TryRemove(root, out var call)) return;
        var c = call.Connection;
        var d = root.TcpDelegated;
        if (call.Op == "offload")
        {
            _events.Emit("offloaded", call.IdJson, w =>
            {
                w.WriteNumber("conn", c.Conn);
                w.WriteString("status", "SUCCESS");
                w.WriteNumber("context", c.TcpSlot.Context);
                w.WriteString("local_mac", _target.MacAddress.ToString());
                if (root.Status == NdisStatus.Success && d is not null) w.WriteNumber("ts_time", d.TsTime);
                else w.WriteNull("ts_time");
                w.WriteNumber("ticks_per_second", _tickRate);
            });
            State(c, "offloaded");
            return;
        }
        _events.Emit("queried", call.IdJson, w =>
        {
            w.WriteNumber("conn", c.Conn);
            w.WriteString("status", DriveJson.StatusName(root.Status));
            if (root.Status == NdisStatus.Success && d is not null) DriveJson.Delegated(w, "delegated", d);
        });
        if (root.Status == NdisStatus.Success && d is not null) ReportTcpState(c, d.State);
    }

    public void TcpOffloadSendComplete(NetBufferList chain) => Io("send_complete", chain, null);

    public void TcpOffloadReceiveComplete(NetBufferList chain)
        => Io("receive_complete", chain, static (driver, tag, nbl) =>
        {
            if (driver._connections.TryGetValue(tag.Conn, out var c)) c.DeliverPlaced(nbl, nbl.TcpOffloadBytesTransferred);
        });

    public void TcpOffloadDisconnectComplete(NetBufferList nbl) => Io("disconnect_complete", nbl, null);

    public void TcpOffloadForwardComplete(NetBufferList chain) => Io("forward_complete", chain, null);

    private void Io(string name, NetBufferList chain, Action<RawDriver, IoTag, NetBufferList>? take)
    {
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            if (nbl.ProtocolReserved is IoTag tag)
            {
                take?.Invoke(this, tag, nbl);
                var status = nbl.Status;
                int bytes = nbl.TcpOffloadBytesTransferred;
                _events.Emit(name, tag.IdJson, w =>
                {
                    w.WriteNumber("conn", tag.Conn);
                    w.WriteString("status", DriveJson.StatusName(status));
                    w.WriteNumber("bytes", bytes);
                });
            }
            nbl = next;
        }
    }

    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        bytesConsumed = 0;
        if (!_connections.TryGetValue(RawConnection.ConnOf(ndisOffloadHandle), out var c)) return NdisStatus.OffloadDataNotAccepted;
        int length = (int)nbl.DataLength;
        if (c.Spec.RefuseIndications)
        {
            // The host does not read (offload's "indications": "refuse"): the target keeps the data for a later post.
            _events.Emit("receive_indicate", null, w =>
            {
                w.WriteNumber("conn", c.Conn);
                w.WriteNumber("bytes", length);
                w.WriteString("answer", "OFFLOAD_DATA_NOT_ACCEPTED");
                w.WriteNumber("delivered_total", c.DeliveredTotal);
            });
            return NdisStatus.OffloadDataNotAccepted;
        }
        c.Deliver(nbl, length);
        bytesConsumed = length;
        // The host owns the NBL until it gives it back; not from inside the indication (the client marks it held after).
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Target.TcpOffloadReceiveReturn(s.Nbl), (Target: _target, Nbl: nbl), preferLocal: false);
        _events.Emit("receive_indicate", null, w =>
        {
            w.WriteNumber("conn", c.Conn);
            w.WriteNumber("bytes", length);
            w.WriteNumber("delivered_total", c.DeliveredTotal);
        });
        return NdisStatus.Success;
    }

    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info)
    {
        int conn = RawConnection.ConnOf(ndisOffloadHandle);
        _events.Emit(EventName(type), null, w =>
        {
            w.WriteNumber("conn", conn);
            EventFields(w, type, info);
        });
    }

    /// <summary>The event name of a ProtocolTcpOffloadEvent (spec §6.2, §6.3, §5).</summary>
    internal static string EventName(TcpOffloadEventType type) => type switch
    {
        TcpOffloadEventType.Disconnect => "indicate_disconnect",
        TcpOffloadEventType.Abort => "indicate_abort",
        TcpOffloadEventType.Retrieve => "indicate_retrieve",
        TcpOffloadEventType.SendBacklogChange => "send_backlog_change",
        _ => "tcp_event",
    };

    /// <summary>The retrieve reason, the backlog size, or the raw values of an unknown event.</summary>
    internal static void EventFields(Utf8JsonWriter w, TcpOffloadEventType type, uint info)
    {
        switch (type)
        {
            case TcpOffloadEventType.Retrieve:
                w.WriteString("reason", ((TcpUploadReason)info).ToString());
                w.WriteNumber("reason_code", info);
                break;
            case TcpOffloadEventType.SendBacklogChange:
                w.WriteNumber("bytes", info);
                break;
            case TcpOffloadEventType.Disconnect or TcpOffloadEventType.Abort:
                break;
            default:
                w.WriteNumber("type", (int)type);
                w.WriteNumber("info", info);
                break;
        }
    }

    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
    {
        var handle = neighborBlock.NdisOffloadHandle;
        var mac = neighborBlock.NeighborCached?.DlDestinationAddress;
        var nic = neighborBlock.NeighborDelegated?.NicReachabilityDelta;
        _events.Emit(code == NeighborEventCode.Query ? "neighbor_query" : "neighbor_in_doubt", null, w =>
        {
            w.WriteNumber("conn", RawConnection.ConnOf(handle));
            if (mac is { } m) w.WriteString("mac", m.ToString());
            if (nic is { } n) w.WriteNumber("nic_reachability_delta", n);
        });
    }

    public void IndicateStatus(NdisStatus adapterStatus)
        => _events.Emit("adapter_status", null, w => w.WriteString("status", DriveJson.StatusName(adapterStatus)));

    public void ReceiveFrame(ReadOnlySpan<byte> frame)
    {
        long n = Interlocked.Increment(ref _framesUp);
        if (!ReportFrames) return;
        string hex = Convert.ToHexStringLower(frame); // a test tool's opt-in report: the copy is the point
        int length = frame.Length;
        _events.Emit("frame_up", null, w =>
        {
            w.WriteNumber("count", n);
            w.WriteNumber("length", length);
            w.WriteString("hex", hex);
        });
    }
}
