using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

public sealed partial class HostStack
{
    private readonly Queue<HostConnection> _offloadQueue = new();
    private readonly Dictionary<OffloadBlock, HostConnection> _terminates = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<OffloadBlock, HostPath> _sharedTerminates = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<OffloadBlock, HostPath> _updates = new(ReferenceEqualityComparer.Instance);
    private readonly NetBufferListPool _requestPool = new(65_536, 1, 1);
    // Initiates in flight, by root. Several only when the later ones link an offloaded neighbour and path (linkers, no
    // new shared object), up to Options.MaxInitiatesInFlight; an initiate that offloads a neighbour or path goes alone.
    private readonly Dictionary<OffloadBlock, HostConnection> _initiates = new(ReferenceEqualityComparer.Instance);
    private bool _offloadPaused;

    /// <summary>Initial send backlog until the target indicates one (spec §5: a query would report it).</summary>
    private uint InitialSendBacklog => (uint)Options.SendBufferSize;

    // ---- policy -----------------------------------------------------------------------------------------------------

    private void ConsiderOffload(HostConnection c)
    {
        if (!c.AutoOffload || c.Location != ConnectionLocation.Host || c.Failed || c.ShutdownRequested || c.OffloadQueued) return;
        if (c.Machine is not { State: TcpState.Established }) return;
        bool due = Options.OffloadPolicy switch
        {
            OffloadPolicy.AfterHandshake => true,
            OffloadPolicy.AfterBytes => c.Rx.TotalAppended + c.Socket.BytesWritten >= Options.OffloadAfterBytes,
            _ => false,
        };
        if (!due) return;
        c.OffloadQueued = true;
        _offloadQueue.Enqueue(c);
    }

    private void AppOffload(HostConnection c, TaskCompletionSource<bool> tcs)
    {
        if (c.Location == ConnectionLocation.Offloaded)
        {
            tcs.TrySetResult(true);
            return;
        }
        if (c.Location != ConnectionLocation.Host || c.Machine is not { State: TcpState.Established or TcpState.CloseWait })
        {
            tcs.TrySetResult(false);
            return;
        }
        c.OffloadTcs = tcs;
        if (!c.OffloadQueued)
        {
            c.OffloadQueued = true;
            _offloadQueue.Enqueue(c);
        }
    }

    private void AppUpload(HostConnection c, TaskCompletionSource tcs)
    {
        c.AutoOffload = false;
        switch (c.Location)
        {
            case ConnectionLocation.Offloaded:
                c.UploadTcs = tcs;
                StartUpload(c, releasing: false);
                break;
            case ConnectionLocation.Offloading:
            case ConnectionLocation.Uploading:
                c.UploadTcs = tcs; // completed when the pending operation ends (and an upload follows a successful offload)
                break;
            default:
                tcs.TrySetResult();
                break;
        }
    }

    private int StartQueuedOffloads()
    {
        int work = 0;
        while (!_offloadPaused && _offloadQueue.Count > 0 && _initiates.Count < Options.MaxInitiatesInFlight)
        {
            // Behind another initiate only when this one creates nothing shared (in order: the queue is not reordered).
            if (_initiates.Count > 0 && !LinksOnly(_offloadQueue.Peek())) break;
            int started = StartQueuedOffload();
            if (started == 0) break;
            work += started;
        }
        return work;
    }

    private static bool LinksOnly(HostConnection c)
        => c.Path is { OffloadState: ObjectOffloadState.Offloaded, Neighbor.OffloadState: ObjectOffloadState.Offloaded };

    private int StartQueuedOffload()
    {
        var c = _offloadQueue.Dequeue();
        c.OffloadQueued = false;
        if (c.Synthetic is not null)
        {
            if (c.Location != ConnectionLocation.Host || c.Failed)
            {
                FailSynthetic(c, new SocketException((int)SocketError.OperationAborted));
                return 1;
            }
        }
        else if (c.Location != ConnectionLocation.Host || c.Machine is not { State: TcpState.Established or TcpState.CloseWait } || c.Failed)
        {
            c.OffloadTcs?.TrySetResult(c.Location == ConnectionLocation.Offloaded);
            c.OffloadTcs = null;
            return 1;
        }
        var path = c.Path!;
        var neighbor = path.Neighbor;
        if (!neighbor.HasMac)
        {
            if (c.Synthetic is not null)
            {
                FailSynthetic(c, HostUnreachable(neighbor.Address));
                return 1;
            }
            // No hardware address for the neighbour block: not offloadable now (the policy tries again on activity).
            c.OffloadTcs?.TrySetResult(false);
            c.OffloadTcs = null;
            return 1;
        }
        if (path.OffloadState == ObjectOffloadState.Terminating || neighbor.OffloadState == ObjectOffloadState.Terminating)
        {
            // A shared object is on its way out: try again once its terminate completed.
            c.OffloadQueued = true;
            _offloadQueue.Enqueue(c);
            return 0;
        }
        StartOffload(c);
        return 1;
    }

    // ---- initiate (spec §2) -----------------------------------------------------------------------------------------

    /// <summary>Builds neighbour → path → TCP (linkers for shared objects already offloaded) and initiates it.</summary>
    private void StartOffload(HostConnection c)
    {
        var m = c.Machine;
        var path = c.Path!;
        var neighbor = path.Neighbor;
        // Owed ACKs are flushed, not transferred (spec §6.6, §6.8 apply to the host's side as well).
        if (m is not null && m.FlushDelayedAck()) DispatchOnly(c);

        OffloadBlock neighborBlock;
        if (neighbor.OffloadState == ObjectOffloadState.Offloaded)
        {
            neighborBlock = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = neighbor.Slot, NdisOffloadHandle = neighbor.Handle };
        }
        else
        {
            neighbor.Slot = new OffloadContextSlot();
            neighbor.Handle = NewHandle();
            neighbor.OffloadState = ObjectOffloadState.Offloading;
            neighborBlock = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
            {
                MiniportOffloadContext = neighbor.Slot,
                NdisOffloadHandle = neighbor.Handle,
                NeighborConst = new NeighborConstState(),
                NeighborCached = new NeighborCachedState { DlDestinationAddress = neighbor.Mac, HostReachabilityDelta = 0 },
                NeighborDelegated = new NeighborDelegatedState(),
            };
            neighbor.OffloadedMac = neighbor.Mac;
            _neighborHandles[neighbor.Handle] = neighbor;
        }
        OffloadBlock pathBlock;
        if (path.OffloadState == ObjectOffloadState.Offloaded)
        {
            pathBlock = new OffloadBlock(path.BlockType) { MiniportOffloadContext = path.Slot, NdisOffloadHandle = path.Handle };
        }
        else
        {
            path.Slot = new OffloadContextSlot();
            path.Handle = NewHandle();
            path.OffloadState = ObjectOffloadState.Offloading;
            pathBlock = new OffloadBlock(path.BlockType)
            {
                MiniportOffloadContext = path.Slot,
                NdisOffloadHandle = path.Handle,
                PathConst = new PathConstState { SourceAddress = path.Destination.IsIpv6 ? Address6 : Address, DestinationAddress = path.Destination },
                PathCached = new PathCachedState { PathMtu = path.PathMtu },
                PathDelegated = new PathDelegatedState(),
            };
        }

        c.Slot = new OffloadContextSlot();
        c.Handle = NewHandle();
        TcpDelegatedState delegated;
        if (c.Synthetic is { } synthetic)
        {
            c.Const = synthetic.Request.Const;
            c.Cached = synthetic.Request.Cached;
            delegated = synthetic.Request.Delegated;
        }
        else
        {
            c.Const = m!.ExportConstState();
            c.Cached = m.ExportCachedState();
            delegated = m.ExportDelegatedState(_now);
        }
        var tcpBlock = new OffloadBlock(OffloadBlockType.TcpOffloadState)
        {
            MiniportOffloadContext = c.Slot,
            NdisOffloadHandle = c.Handle,
            TcpConst = c.Const,
            TcpCached = c.Cached,
            TcpDelegated = delegated,
        };

        // Outstanding send data (spec §5): the machine's queue, oldest first, the first NB advanced to SndUna.
        var buffers = new List<ITcpSendBuffer>();
        int headAcked = m?.CopySendBuffers(buffers) ?? 0;
        NetBufferList? head = null, tail = null;
        for (int i = 0; i < buffers.Count; i++)
        {
            var chunk = (SendChunk)buffers[i];
            chunk.SentAt = 0;   // handed over with the state, not sent by a request now
            if (i == 0 && headAcked > 0)
            {
                var (offset, length) = chunk.Window;
                c.AdvancedHead = (chunk, offset, length);
                chunk.SetWindow(offset + headAcked, length - headAcked);
            }
            chunk.Nbl.Next = null;
            chunk.Nbl.Status = NdisStatus.Success;
            chunk.Nbl.TcpOffloadBytesTransferred = 0;
            NetBufferListChain.Append(ref head, ref tail, chunk.Nbl);
        }
        tcpBlock.NetBufferListChain = head;
        delegated.SendDataHead = head;
        delegated.SendDataTail = tail;

        // Received, acknowledged and not yet taken by the application (spec §3 "buffered data at initiate"). Not when the
        // peer's FIN came first (an upload in CLOSE-WAIT or later, a FIN taken in host mode): the target of this offload
        // never sees that FIN, so it would never indicate the disconnect after those bytes. They go to the receive queue
        // with the end of stream when the initiate succeeds instead (OnInitiateComplete); nothing more can arrive.
        if (m is not null && m.ReceiveBufferedBytes > 0 && !c.PeerFinPending)
        {
            var bytes = new byte[m.ReceiveBufferedBytes];
            m.PeekReceived(0, bytes);
            var nbl = new NetBufferList(1, 1);
            nbl.AddBuffer().AddSegment(bytes);
            delegated.BufferedData = nbl;
        }

        neighborBlock.AddDependent(pathBlock);
        pathBlock.AddDependent(tcpBlock);
        _connectionHandles[c.Handle] = c;
        c.Location = ConnectionLocation.Offloading;
        _initiates[neighborBlock] = c;
        path.InitiatesInFlight++;
        neighbor.InitiatesInFlight++;
        var status = _target.InitiateOffload(neighborBlock);
        if (status != NdisStatus.Pending)
        {
            // A synchronous refusal: the same outcome as a completion with that status everywhere.
            OffloadTree.SetStatus(neighborBlock, status == NdisStatus.Success ? NdisStatus.Failure : status);
            OnInitiateComplete(neighborBlock);
        }
    }

    private void OnInitiateComplete(OffloadBlock root)
    {
        if (!_initiates.Remove(root, out var c)) return;
        var pathBlock = root.DependentBlockList!;
        var tcpBlock = pathBlock.DependentBlockList!;
        var path = c.Path!;
        var neighbor = path.Neighbor;
        path.InitiatesInFlight--;
        neighbor.InitiatesInFlight--;

        if (neighbor.OffloadState == ObjectOffloadState.Offloading)
        {
            if (OffloadTree.IsOffloaded(root.Status))
            {
                neighbor.OffloadState = ObjectOffloadState.Offloaded;
                PushNeighborMac(neighbor); // the MAC may have changed while the initiate was pending
            }
            else
            {
                neighbor.OffloadState = ObjectOffloadState.NotOffloaded;
                _neighborHandles.TryRemove(neighbor.Handle, out _);
                neighbor.Slot = null;
            }
        }
        if (path.OffloadState == ObjectOffloadState.Offloading)
        {
            if (OffloadTree.IsOffloaded(pathBlock.Status))
            {
                path.OffloadState = ObjectOffloadState.Offloaded;
                path.OffloadedMtu = pathBlock.PathCached!.Value.PathMtu;
                neighbor.Dependents++;
                PushPathMtu(path); // the MTU may have dropped while the initiate was pending
            }
            else
            {
                path.OffloadState = ObjectOffloadState.NotOffloaded;
                path.Slot = null;
            }
        }

        if (tcpBlock.Status == NdisStatus.Success)
        {
            path.Dependents++;
            c.Location = ConnectionLocation.Offloaded;
            c.AdvancedHead = null;
            if (c.Machine is { } m)
            {
                if (c.PeerFinPending)
                {
                    // The FIN is behind us (see StartOffload): the rest of the stream and its end go to the queue now.
                    if (m.ReceiveBufferedBytes > 0)
                    {
                        var rest = new byte[m.ReceiveBufferedBytes];
                        m.PeekReceived(0, rest);
                        c.Rx.AppendAll(rest);
                    }
                    c.Rx.SetEof();
                }
                m.ReceiveConsumer = null;
                m.SendCompletionSink = null;
                c.PastHostStatistics.Add(m.Statistics);
                m.ReleaseReceiveBuffer(); // its buffered bytes went over in the initiate: storage back to the pool
                c.Machine = null;
                UntrackMachine(c);
            }
            c.OffloadCount++;
            Statistics.OffloadsSucceeded++;
            HostLog.Offloaded(_logger, c.ToString());
            c.SendBacklog = InitialSendBacklog;
            c.OffloadOutstanding = 0;
            foreach (var chunk in c.Inflight)
            {
                chunk.SentLength = chunk.Length;
                c.OffloadOutstanding += chunk.Length;
            }
            c.OffloadTcs?.TrySetResult(true);
            c.OffloadTcs = null;
            if (c.Synthetic is not null) QuerySyntheticClock(c);
            ForwardHeld(c);
            if (c.AbortRequested)
            {
                AbortOffloaded(c);
                return;
            }
            if (c.UploadTcs is not null)
            {
                StartUpload(c, releasing: false);
                return;
            }
            PumpOffloadedSends(c);
            MaybePostReceive(c);
            OpenIoGates(c);
            MaybeRelease(c);
            return;
        }

        // The TCP block failed: the connection keeps running in host mode, untouched (spec §2: its NBLs are neither
        // modified nor completed by the target; the host undoes its own advance of the first one).
        _connectionHandles.TryRemove(c.Handle, out _);
        c.Handle = 0;
        c.Slot = null;
        if (c.Synthetic is not null)
        {
            // No host-mode machine to fall back on: the connection never existed.
            Statistics.OffloadsFailed++;
            HostLog.OffloadFailed(_logger, c.ToString(), tcpBlock.Status.ToString());
            FailSynthetic(c, new SocketException((int)SocketError.ConnectionRefused) { Data = { ["status"] = tcpBlock.Status.ToString() } });
            return;
        }
        if (c.AdvancedHead is var (headChunk, offset, length))
        {
            headChunk.SetWindow(offset, length);
            c.AdvancedHead = null;
        }
        foreach (var chunk in c.Inflight) chunk.Nbl.Next = null;
        c.Location = ConnectionLocation.Host;
        c.AutoOffload = false;
        Statistics.OffloadsFailed++;
        HostLog.OffloadFailed(_logger, c.ToString(), tcpBlock.Status.ToString());
        c.OffloadTcs?.TrySetResult(false);
        c.OffloadTcs = null;
        c.UploadTcs?.TrySetResult();
        c.UploadTcs = null;
        ProcessHeldInHostMode(c);
        if (c.Location != ConnectionLocation.Host) return;
        if (c.AbortRequested)
        {
            AppAbort(c);
            return;
        }
        PumpSends(c);
        Transmit(c);
    }

    private void ProcessHeldInHostMode(HostConnection c)
    {
        var m = c.Machine!;
        foreach (var (buffer, length) in c.Held)
        {
            m.ProcessSegment(buffer.AsSpan(0, length), _now);
            ArrayPool<byte>.Shared.Return(buffer);
        }
        c.Held.Clear();
        NoteMachineTimer(c);
    }

    private void DispatchOnly(HostConnection c)
    {
        var neighbor = c.Path!.Neighbor;
        if (!neighbor.HasMac) return;
        _writer.Destination = neighbor.Mac;
        _writer.RemoteAddress = c.Key.Remote;
        c.Machine!.Dispatch(_now, _writer);
        NoteMachineTimer(c);
    }

    // ---- offloaded I/O ------------------------------------------------------------------------------------------------

    /// <summary>Sends pending chunks with TcpOffloadSend, never more outstanding than the send backlog (spec §5); then
    /// the graceful disconnect once everything written was handed over (spec §6.1).</summary>
    private void PumpOffloadedSends(HostConnection c)
    {
        // Under the gate: with direct I/O the application's thread and the completion worker pump too.
        lock (c.IoGate) PumpOffloadedSendsLocked(c);
    }

    private void PumpOffloadedSendsLocked(HostConnection c)
    {
        if (c.Location != ConnectionLocation.Offloaded) return;
        NetBufferList? head = null, tail = null;
        long now = 0;
        while (c.OffloadOutstanding < c.SendBacklog && c.Pending.TryDequeue(out var chunk))
        {
            if (now == 0) now = System.Diagnostics.Stopwatch.GetTimestamp();
            chunk.SentAt = now;
            chunk.SyncLength();
            chunk.SentLength = chunk.Length;
            chunk.Nbl.Next = null;
            chunk.Nbl.Status = NdisStatus.Success;
            chunk.Nbl.TcpOffloadBytesTransferred = 0;
            NetBufferListChain.Append(ref head, ref tail, chunk.Nbl);
            c.Inflight.Enqueue(chunk);
            c.OffloadOutstanding += chunk.Length;
        }
        if (head is not null) _target.TcpOffloadSend(c.Slot!.Context, head);
        if (c.ShutdownRequested && !c.FinIssued && c.Pending.Count == 0)
        {
            c.FinIssued = true;
            var nbl = new NetBufferList(1, 1) { ProtocolReserved = c };
            nbl.AddBuffer();
            c.DisconnectNbl = nbl;
            _target.TcpOffloadDisconnect(c.Slot!.Context, nbl, TcpDisconnectFlags.Graceful);
        }
    }

    /// <summary>Posts a receive buffer sized to the application's pending read, or a zero-byte post to re-arm
    /// indications after a refusal (spec §3).</summary>
    private void MaybePostReceive(HostConnection c)
    {
        lock (c.IoGate) MaybePostReceiveLocked(c);
    }

    private void MaybePostReceiveLocked(HostConnection c)
    {
        if (c.Location != ConnectionLocation.Offloaded || c.PostOutstanding || c.Rx.IsEnded || c.PeerFinPending) return;
        int want = c.Rx.PendingReadSize;
        int size;
        if (want > 0 && c.Rx.Count == 0 && !Options.IndicationsOnly) size = Math.Min(want, Options.ReceiveBufferSize);
        else if (c.IndicationsBlocked && c.Rx.Free > 0) size = 0;
        else return;
        c.IndicationsBlocked = false;
        var nbl = _requestPool.Rent();
        nbl.ProtocolReserved = c;
        var nb = nbl.AddBuffer();
        if (size > 0)
        {
            nb.AddWritableSegment(ArrayPool<byte>.Shared.Rent(size).AsMemory(0, size));
            Statistics.CountReceiveBufferPost();
        }
        c.PostOutstanding = true;
        _target.TcpOffloadReceive(c.Slot!.Context, nbl);
    }

    private void OnSendComplete(NetBufferList chain)
    {
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            nbl.Next = null;
            if (nbl.ProtocolReserved is SendChunk { Connection: { } c } chunk)
            {
                lock (c.IoGate) CompleteSendLocked(c, chunk, nbl.Status);
            }
            nbl = next;
        }
    }

    private void CompleteSendLocked(HostConnection c, SendChunk chunk, NdisStatus status)
    {
        c.OffloadOutstanding -= chunk.SentLength;
        switch (status)
        {
            case NdisStatus.Success:
                if (chunk.SentAt != 0) Statistics.SendCompletionLatency.RecordSince(chunk.SentAt);
                chunk.Done = true;
                break;
            case NdisStatus.RequestAborted: // the connection was reset: the data is dropped with it
                chunk.Done = true;
                break;
            default:
                // UPLOAD_IN_PROGRESS (or an IM code): the target advanced the NB past the acknowledged bytes;
                // the rest goes back to host-mode sending after the upload (spec §5).
                chunk.SyncLength();
                Statistics.SendsHandedBack++;
                break;
        }
        ReleaseDoneChunks(c);
        PumpOffloadedSendsLocked(c);
    }

    private void OnReceiveComplete(NetBufferList chain)
    {
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            nbl.Next = null;
            if (nbl.ProtocolReserved is HostConnection c)
            {
                lock (c.IoGate) CompleteReceiveLocked(c, nbl);
            }
            else
            {
                RecyclePost(nbl);
            }
            nbl = next;
        }
    }

    private void RecyclePost(NetBufferList nbl)
    {
        if (nbl.BufferCount > 0 && nbl[0].SegmentCount > 0
            && MemoryMarshal.TryGetArray(nbl[0].GetSegment(0), out var segment) && segment.Array is { Length: > 0 } array)
            ArrayPool<byte>.Shared.Return(array);
        _requestPool.Return(nbl);
    }

    /// <summary>A receive post came back (its data is already in the queue: <see cref="ChimneyHost"/>): recycle it and
    /// post again if a read waits. Under the gate.</summary>
    private void CompleteReceiveLocked(HostConnection c, NetBufferList nbl)
    {
        var status = nbl.Status;
        RecyclePost(nbl);
        c.PostOutstanding = false;
        if (status == NdisStatus.InvalidState) c.Rx.SetEof(); // posted after the disconnect indication
        MaybePostReceiveLocked(c);
    }

    private void OnDisconnectComplete(NetBufferList nbl)
    {
        if (nbl.ProtocolReserved is not HostConnection c) return;
        if (ReferenceEquals(nbl, c.AbortNbl))
        {
            c.AbortNbl = null;
            StartUpload(c, releasing: true);
            return;
        }
        c.DisconnectNbl = null;
        switch (nbl.Status)
        {
            case NdisStatus.Success:
                if (c.ShutdownTcs is { } tcs)
                {
                    c.ShutdownTcs = null;
                    tcs.TrySetResult();
                }
                MaybeRelease(c);
                break;
            case NdisStatus.RequestAborted:
                c.ShutdownTcs?.TrySetException(ReceiveQueue.ResetError("The peer reset the connection."));
                c.ShutdownTcs = null;
                break;
            default:
                // UPLOAD_IN_PROGRESS: the host machine finishes the close after the upload.
                break;
        }
    }

    private void ForwardHeld(HostConnection c)
    {
        if (c.Location != ConnectionLocation.Offloaded || c.Held.Count == 0) return;
        NetBufferList? head = null, tail = null;
        foreach (var (buffer, length) in c.Held)
        {
            // Spec §4: one segment per NB, one NB per NBL, byte 0 = the TCP header.
            var nbl = _requestPool.Rent();
            nbl.ProtocolReserved = c;
            nbl.AddBuffer().AddSegment(new ReadOnlyMemory<byte>(buffer, 0, length));
            NetBufferListChain.Append(ref head, ref tail, nbl);
            c.ForwardsOutstanding++;
            Statistics.SegmentsForwarded++;
        }
        c.Held.Clear();
        _target.TcpOffloadForward(c.Slot!.Context, head!);
    }

    private void OnForwardComplete(NetBufferList chain)
    {
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            nbl.Next = null;
            var c = nbl.ProtocolReserved as HostConnection;
            var memory = nbl[0].GetSegment(0);
            MemoryMarshal.TryGetArray(memory, out var segment);
            if (c is not null) c.ForwardsOutstanding--;
            if (nbl.Status == NdisStatus.UploadInProgress && c is not null && c.Location != ConnectionLocation.Closed)
                c.Held.Add((segment.Array!, memory.Length)); // processed in host mode after the upload
            else
                ArrayPool<byte>.Shared.Return(segment.Array!);
            _requestPool.Return(nbl);
            nbl = next;
        }
    }

    // ---- events (spec §6.2, §6.3) -----------------------------------------------------------------------------------

    private void OnTcpEvent(ulong handle, TcpOffloadEventType type, uint info)
    {
        if (!_connectionHandles.TryGetValue(handle, out var c)) return;
        if (type == TcpOffloadEventType.Retrieve)
        {
            Statistics.TargetRetrieves++;
            Statistics.LastTargetRetrieveReason = (TcpUploadReason)info;
        }
        if (type != TcpOffloadEventType.SendBacklogChange) HostLog.TargetEvent(_logger, c.ToString(), type.ToString(), info);
        switch (type)
        {
            case TcpOffloadEventType.SendBacklogChange:
                lock (c.IoGate)
                {
                    c.SendBacklog = Math.Max(info, (uint)Chunks.ChunkSize);
                    PumpOffloadedSendsLocked(c);
                }
                break;
            case TcpOffloadEventType.Disconnect:
                c.PeerFinPending = true;
                c.Rx.SetEof();
                MaybeRelease(c);
                break;
            case TcpOffloadEventType.Abort:
                FailConnection(c, c.TargetFailed
                    ? new IOException("The offload target failed (hardware failure): the connection's offloaded state is lost and it was aborted.",
                        new SocketException((int)SocketError.ConnectionAborted))
                    : ReceiveQueue.ResetError("The peer reset the connection."));
                break;
            case TcpOffloadEventType.Retrieve when info == (uint)TcpUploadReason.HardwareFailure:
                // Spec §6.6 hardware-failure path: the target's state is lost and an Abort follows; an upload would only
                // fail. Remember why, so the abort reads as the target's failure, not the peer's reset.
                c.TargetFailed = true;
                break;
            case TcpOffloadEventType.Retrieve:
                if (c.Location == ConnectionLocation.Offloaded)
                {
                    c.AutoOffload = false;
                    StartUpload(c, releasing: false);
                }
                break;
        }
    }

    private void OnAdapterStatus(NdisStatus status)
    {
        HostLog.AdapterStatus(_logger, status.ToString());
        switch (status)
        {
            case NdisStatus.OffloadPause:
                _offloadPaused = true;
                break;
            case NdisStatus.OffloadResume:
                _offloadPaused = false;
                break;
            case NdisStatus.UploadAll:
                _offloadPaused = true;
                foreach (var c in _connectionList.ToArray())
                    if (c.Location == ConnectionLocation.Offloaded) StartUpload(c, releasing: false);
                break;
            case NdisStatus.AdapterRemoved:
                TargetGone();
                break;
        }
    }

    /// <summary>The target is gone for good (ADAPTER_REMOVED: a remote target's control session closed). It completed
    /// everything it had first (offloaded connections were retrieved with a hardware failure and aborted, a pending
    /// initiate failed and its connection is back in host mode), but host mode has no NIC to send through either: every
    /// connection fails now with an error that says so, rather than retransmitting into nothing until TCP gives up, and
    /// new connections and accepts fail at once.</summary>
    private void TargetGone()
    {
        if (_targetGoneError is not null) return;
        var error = TargetGoneError();
        _targetGoneError = error;
        _offloadPaused = true;
        foreach (var c in _connectionList.ToArray())
        {
            if (c.Location == ConnectionLocation.Closed) continue;
            c.TargetFailed = true;
            if (!c.Failed) FailConnection(c, error);
            else if (c.Location == ConnectionLocation.Host) FinishConnection(c, error);
        }
        foreach (var listener in _listeners.Values) listener.Fail(error);
    }

    private Exception? _targetGoneError;

    private static IOException TargetGoneError() => new(
        "The offload target is gone (adapter removed: the control session to the daemon closed); the connection cannot continue.",
        new SocketException((int)SocketError.NetworkDown));

    private void AbortOffloaded(HostConnection c)
    {
        if (c.Location != ConnectionLocation.Offloaded || c.AbortNbl is not null) return;
        var nbl = new NetBufferList(1, 1) { ProtocolReserved = c };
        nbl.AddBuffer();
        c.AbortNbl = nbl;
        _target.TcpOffloadDisconnect(c.Slot!.Context, nbl, TcpDisconnectFlags.Abortive);
    }

    /// <summary>An offloaded connection that is finished both ways and closed by the application is terminated and
    /// released (with its path and neighbour when it was their last dependent).</summary>
    private void MaybeRelease(HostConnection c)
    {
        if (c.Location != ConnectionLocation.Offloaded) return;
        if (c.CloseRequested && c.FinIssued && c.ShutdownTcs is null && c.DisconnectNbl is null && c.PeerFinPending)
            StartUpload(c, releasing: true);
    }

    // ---- path MTU (RFC 1191, spec §6.7) ------------------------------------------------------------------------------

    private const uint MinIpv4PathMtu = 576;
    private const uint MinIpv6PathMtu = 1280;

    /// <summary>An ICMP fragmentation-needed message lowered the path MTU to <paramref name="nextHopMtu"/>: host-mode
    /// machines on the path segment smaller at once, an offloaded path object is updated (cached PathMtu).</summary>
    private void PathMtuDecrease(IpAddressValue destination, uint nextHopMtu)
    {
        if (!_paths.TryGetValue(destination, out var path)) return;
        // An old router may report 0: fall back to the IPv4 minimum rather than guessing plateaus. IPv6 links carry at
        // least 1280 bytes (RFC 8201 §4: a smaller packet-too-big value is not used below the minimum).
        uint minimum = destination.IsIpv6 ? MinIpv6PathMtu : MinIpv4PathMtu;
        uint mtu = Math.Max(minimum, nextHopMtu == 0 ? minimum : nextHopMtu);
        if (mtu >= path.PathMtu) return;
        path.PathMtu = mtu;
        Statistics.PathMtuDecreases++;
        foreach (var c in _connectionList)
        {
            if (!ReferenceEquals(c.Path, path) || c.Machine is not { } m) continue;
            ApplyPathMss(c, m);
        }
        PushPathMtu(path);
    }

    private void ApplyPathMss(HostConnection c, TcpMachine m)
    {
        uint mtu = c.Path!.PathMtu;
        if (mtu < (uint)Mtu) m.SetPathMss((ushort)(mtu - (c.IsIpv6 ? 60 : 40)));
    }

    /// <summary>Sends the path's MTU to its offloaded object when it differs and no other update is in flight.</summary>
    private void PushPathMtu(HostPath path)
    {
        if (path.OffloadState != ObjectOffloadState.Offloaded || path.UpdateInFlight || path.OffloadedMtu == path.PathMtu) return;
        var block = new OffloadBlock(path.BlockType)
        {
            MiniportOffloadContext = path.Slot,
            NdisOffloadHandle = path.Handle,
            PathCached = new PathCachedState { PathMtu = path.PathMtu },
        };
        path.UpdateInFlight = true;
        _updates[block] = path;
        _target.UpdateOffload(block);
    }

    // ---- neighbour MAC changes (spec §6.7) -----------------------------------------------------------------------------

    private readonly Dictionary<OffloadBlock, NeighborEntry> _neighborUpdates = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<OffloadBlock, NeighborEntry> _neighborTerminates = new(ReferenceEqualityComparer.Instance);

    /// <summary>Sends the neighbour's MAC to its offloaded object when it differs and no other update is in flight.</summary>
    private void PushNeighborMac(NeighborEntry neighbor)
    {
        if (neighbor.OffloadState != ObjectOffloadState.Offloaded || neighbor.UpdateInFlight || neighbor.OffloadedMac == neighbor.Mac) return;
        var block = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            MiniportOffloadContext = neighbor.Slot,
            NdisOffloadHandle = neighbor.Handle,
            NeighborCached = new NeighborCachedState { DlDestinationAddress = neighbor.Mac, HostReachabilityDelta = 0 },
        };
        neighbor.UpdateInFlight = true;
        _neighborUpdates[block] = neighbor;
        _target.UpdateOffload(block);
    }

    private void OnNeighborUpdateComplete(OffloadBlock root, NeighborEntry neighbor)
    {
        neighbor.UpdateInFlight = false;
        if (root.Status == NdisStatus.Success)
        {
            neighbor.OffloadedMac = root.NeighborCached!.Value.DlDestinationAddress;
            Statistics.NeighborUpdatesCompleted++;
        }
        PushNeighborMac(neighbor); // a further change may have arrived meanwhile
        ReleaseNeighborIfUnused(neighbor);
    }

    /// <summary>A neighbour kept offloaded for its update when its last path went is terminated once both are over.</summary>
    private void ReleaseNeighborIfUnused(NeighborEntry neighbor)
    {
        if (neighbor.Dependents == 0 && neighbor.OffloadState == ObjectOffloadState.Offloaded && !neighbor.UpdateInFlight
            && neighbor.InitiatesInFlight == 0)
        {
            var block = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = neighbor.Slot, NdisOffloadHandle = neighbor.Handle };
            neighbor.OffloadState = ObjectOffloadState.Terminating;
            _neighborTerminates[block] = neighbor;
            _target.TerminateOffload(block);
        }
    }

    private void OnUpdateComplete(OffloadBlock root)
    {
        if (_neighborUpdates.Remove(root, out var neighbor))
        {
            OnNeighborUpdateComplete(root, neighbor);
            return;
        }
        if (!_updates.Remove(root, out var path)) return;
        path.UpdateInFlight = false;
        if (root.Status == NdisStatus.Success)
        {
            path.OffloadedMtu = root.PathCached!.Value.PathMtu;
            Statistics.PathUpdatesCompleted++;
        }
        PushPathMtu(path); // a further decrease may have arrived meanwhile
        ReleaseSharedIfUnused(path); // its last connection may have ended while the update ran
    }

    // ---- synthetic offload (no handshake, supplied state) ---------------------------------------------------------------

    private readonly Dictionary<OffloadBlock, HostConnection> _queries = new(ReferenceEqualityComparer.Instance);

    private void StartSyntheticOffload(HostConnection c)
    {
        var request = c.Synthetic!.Request;
        if (_connections.ContainsKey(c.Key))
        {
            c.Synthetic.Completion.TrySetException(new SocketException((int)SocketError.AddressAlreadyInUse));
            c.Synthetic = null;
            return;
        }
        if (NextHop(c.Key.Remote) is not { } hop)
        {
            c.Synthetic.Completion.TrySetException(new SocketException((int)SocketError.NetworkUnreachable));
            c.Synthetic = null;
            return;
        }
        var neighbor = GetNeighbor(hop);
        if (request.RemoteMac is { } mac && (!neighbor.HasMac || neighbor.Mac != mac)) LearnNeighbor(neighbor, mac);
        c.Path = GetPath(c.Key.Remote, neighbor);
        AddConnection(c);
        c.Location = ConnectionLocation.Host; // queued: segments arriving before the initiate starts are held there too
        c.OffloadQueued = true;
        _offloadQueue.Enqueue(c);
    }

    /// <summary>After a synthetic initiate: asks the target for the connection's delegated state (its TsTime).</summary>
    private void QuerySyntheticClock(HostConnection c)
    {
        var block = new OffloadBlock(OffloadBlockType.TcpOffloadState) { MiniportOffloadContext = c.Slot, NdisOffloadHandle = c.Handle };
        _queries[block] = c;
        if (_target.QueryOffloadState(block) != NdisStatus.Pending)
        {
            _queries.Remove(block);
            CompleteSynthetic(c, null);
        }
    }

    // ---- statistics -------------------------------------------------------------------------------------------------------

    private readonly Dictionary<OffloadBlock, (HostConnection Connection, TaskCompletionSource<OffloadSocketStatistics> Completion)> _statisticsQueries
        = new(ReferenceEqualityComparer.Instance);

    /// <summary>The application asked for the connection's statistics: the live TCP state comes from the host machine,
    /// or from the target (QueryOffloadState) while offloaded.</summary>
    private void AppStatistics(HostConnection c, TaskCompletionSource<OffloadSocketStatistics> tcs)
    {
        if (c.Location == ConnectionLocation.Offloaded && c.Slot is { HasContext: true } slot)
        {
            var block = new OffloadBlock(OffloadBlockType.TcpOffloadState) { MiniportOffloadContext = slot, NdisOffloadHandle = c.Handle };
            _statisticsQueries[block] = (c, tcs);
            if (_target.QueryOffloadState(block) == NdisStatus.Pending) return;
            _statisticsQueries.Remove(block);
        }
        TcpDelegatedState? state = c.Machine is { } m && c.Location == ConnectionLocation.Host ? m.ExportDelegatedState(_now) : null;
        tcs.TrySetResult(StatisticsOf(c, state));
    }

    private static OffloadSocketStatistics StatisticsOf(HostConnection c, TcpDelegatedState? state)
    {
        var tcp = c.PastHostStatistics;
        if (c.Machine is { } machine && c.Location is ConnectionLocation.Host or ConnectionLocation.Offloading) tcp.Add(machine.Statistics);
        return new OffloadSocketStatistics(c.Location, c.OffloadCount, c.UploadCount, c.Socket.BytesWritten, c.Rx.TotalAppended, tcp, state);
    }

    // ---- neighbour reachability (spec §6.4) ------------------------------------------------------------------------------

    private readonly Dictionary<OffloadBlock, NeighborEntry> _neighborQueries = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<OffloadBlock, NeighborEntry> _neighborInvalidates = new(ReferenceEqualityComparer.Instance);

    /// <summary>The target asked about a neighbour the host holds stale: ask the NIC how long ago it saw the neighbour
    /// make forward progress (NicReachabilityDelta) before probing.</summary>
    private void VerifyNeighbor(NeighborEntry entry)
    {
        if (entry.Verifying || entry.OffloadState != ObjectOffloadState.Offloaded) return;
        if (entry.State == NeighborState.Reachable && _now < entry.ReachableUntil) return;   // confirmed meanwhile
        entry.Verifying = true;
        Statistics.NeighborVerifications++;
        var block = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = entry.Slot, NdisOffloadHandle = entry.Handle };
        _neighborQueries[block] = entry;
        if (_target.QueryOffloadState(block) != NdisStatus.Pending)
        {
            _neighborQueries.Remove(block);
            StartProbing(entry);
        }
    }

    private void OnNeighborQueryComplete(OffloadBlock root, NeighborEntry entry)
    {
        if (!entry.Verifying) return;   // an ARP answer confirmed it meanwhile
        uint tps = Options.OffloadParameters.TicksPerSecond;
        if (root.Status == NdisStatus.Success && root.NeighborDelegated is { } d)
        {
            var sinceNic = TimeSpan.FromTicks(d.NicReachabilityDelta * (TimeSpan.TicksPerSecond / tps));
            if (sinceNic < Options.NeighborReachableTime)
            {
                // The NIC saw forward progress recently: that confirms the neighbour (RFC 4861 §7.3.1 upper-layer hint).
                Confirm(entry, _now.AddMicroseconds(-sinceNic.Ticks / 10));
                entry.Verifying = false;
                Statistics.NeighborsConfirmedByNic++;
                return;
            }
        }
        StartProbing(entry);
    }

    private void StartProbing(NeighborEntry entry)
    {
        entry.Probing = true;
        entry.RequestsSent = 0;
        SendResolutionRequest(entry);
    }

    /// <summary>Probes went unanswered: the neighbour is lost. Its offloaded object is invalidated, so the target asks
    /// for the connections through it to be uploaded (spec §6.7; retrieve InvalidState).</summary>
    private void NeighborLost(NeighborEntry entry)
    {
        entry.Probing = false;
        entry.Verifying = false;
        if (entry.OffloadState != ObjectOffloadState.Offloaded || entry.Slot is null) return;
        var block = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = entry.Slot, NdisOffloadHandle = entry.Handle };
        _neighborInvalidates[block] = entry;
        Statistics.NeighborsInvalidated++;
        _target.InvalidateOffload(block);
    }

    private void OnInvalidateComplete(OffloadBlock root)
    {
        // The connections through it come back by retrieve events; nothing else waits for this completion.
        _neighborInvalidates.Remove(root);
    }

    private void OnQueryComplete(OffloadBlock root)
    {
        if (_neighborQueries.Remove(root, out var entry))
        {
            OnNeighborQueryComplete(root, entry);
            return;
        }
        if (_statisticsQueries.Remove(root, out var asked))
        {
            asked.Completion.TrySetResult(StatisticsOf(asked.Connection, root.Status == NdisStatus.Success ? root.TcpDelegated : null));
            return;
        }
        if (!_queries.Remove(root, out var c)) return;
        CompleteSynthetic(c, root.Status == NdisStatus.Success ? root.TcpDelegated : null);
    }

    private void CompleteSynthetic(HostConnection c, TcpDelegatedState? queried)
    {
        if (c.Synthetic is not { } synthetic) return;
        c.Synthetic = null;
        // A query that failed (the connection already ended) leaves the clock as it was supplied.
        uint tsTime = queried?.TsTime ?? synthetic.Request.Delegated.TsTime;
        synthetic.Completion.TrySetResult(new SyntheticOffloadResult(c.Socket, tsTime));
    }

    private void FailSynthetic(HostConnection c, Exception error)
    {
        var synthetic = c.Synthetic!;
        c.Synthetic = null;
        FinishConnection(c, new IOException("The synthetic offload failed.", error));
        synthetic.Completion.TrySetException(error);
    }

    // ---- terminate (spec §6.6) ----------------------------------------------------------------------------------------

    private void StartUpload(HostConnection c, bool releasing)
    {
        if (c.Location != ConnectionLocation.Offloaded) return;
        lock (c.IoGate)
        {
            // Every request issued through an open gate was issued before this terminate.
            c.DirectSend = false;
            c.DirectReceive = false;
            c.Location = ConnectionLocation.Uploading;
        }
        c.Releasing |= releasing;
        var tcp = new OffloadBlock(OffloadBlockType.TcpOffloadState) { MiniportOffloadContext = c.Slot, NdisOffloadHandle = c.Handle };
        OffloadBlock root = tcp;
        var path = c.Path!;
        var neighbor = path.Neighbor;
        // An initiate in flight may be linking a new dependent to these objects: then they stay.
        if (c.Releasing && path.Dependents == 1 && path.OffloadState == ObjectOffloadState.Offloaded && path.InitiatesInFlight == 0
            && !path.UpdateInFlight)
        {
            // The last connection on the path: the path (and a neighbour left without paths) go with it, parents
            // first in the tree; the target removes dependents before their parents.
            var pathBlock = new OffloadBlock(path.BlockType) { MiniportOffloadContext = path.Slot, NdisOffloadHandle = path.Handle };
            pathBlock.AddDependent(tcp);
            path.OffloadState = ObjectOffloadState.Terminating;
            root = pathBlock;
            if (neighbor.Dependents == 1 && neighbor.OffloadState == ObjectOffloadState.Offloaded && neighbor.InitiatesInFlight == 0
                && !neighbor.UpdateInFlight)
            {
                var neighborBlock = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = neighbor.Slot, NdisOffloadHandle = neighbor.Handle };
                neighborBlock.AddDependent(pathBlock);
                neighbor.OffloadState = ObjectOffloadState.Terminating;
                root = neighborBlock;
            }
        }
        _terminates[root] = c;
        _target.TerminateOffload(root);
    }

    /// <summary>Terminates a path (and its neighbour when it has no other path) left without offloaded connections.
    /// A connection's own release includes them when it is the last dependent; this covers the other endings (an
    /// upload the target asked for, a connection that ended while uploading).</summary>
    private void ReleaseSharedIfUnused(HostPath path)
    {
        // Spec §6.6: an update of the object completes before its terminate (OnUpdateComplete comes back here).
        if (path.Dependents != 0 || path.OffloadState != ObjectOffloadState.Offloaded || path.InitiatesInFlight > 0 || path.UpdateInFlight) return;
        var neighbor = path.Neighbor;
        var pathBlock = new OffloadBlock(path.BlockType) { MiniportOffloadContext = path.Slot, NdisOffloadHandle = path.Handle };
        path.OffloadState = ObjectOffloadState.Terminating;
        OffloadBlock root = pathBlock;
        if (neighbor.Dependents == 1 && neighbor.OffloadState == ObjectOffloadState.Offloaded && neighbor.InitiatesInFlight == 0
            && !neighbor.UpdateInFlight)
        {
            var neighborBlock = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = neighbor.Slot, NdisOffloadHandle = neighbor.Handle };
            neighborBlock.AddDependent(pathBlock);
            neighbor.OffloadState = ObjectOffloadState.Terminating;
            root = neighborBlock;
        }
        _sharedTerminates[root] = path;
        _target.TerminateOffload(root);
    }

    private void ApplySharedTerminate(OffloadBlock root, HostPath path)
    {
        var neighbor = path.Neighbor;
        // SUCCESS: the object is gone. FAILURE on a shared object means it still has dependents in the target (the
        // host's count was wrong): it stays offloaded rather than being forgotten while installed.
        var pathBlock = root.Layer == OffloadLayer.Path ? root : root.DependentBlockList!;
        if (pathBlock.Status == NdisStatus.Success)
        {
            path.OffloadState = ObjectOffloadState.NotOffloaded;
            path.Slot = null;
            neighbor.Dependents--;
            if (root.Layer != OffloadLayer.Neighbor) ReleaseNeighborIfUnused(neighbor);
        }
        else
        {
            path.OffloadState = ObjectOffloadState.Offloaded;
        }
        if (root.Layer == OffloadLayer.Neighbor)
        {
            if (root.Status == NdisStatus.Success)
            {
                neighbor.OffloadState = ObjectOffloadState.NotOffloaded;
                _neighborHandles.TryRemove(neighbor.Handle, out _);
                neighbor.Slot = null;
            }
            else
            {
                neighbor.OffloadState = ObjectOffloadState.Offloaded;
            }
        }
    }

    private void OnTerminateComplete(OffloadBlock root)
    {
        if (_neighborTerminates.Remove(root, out var releasedNeighbor))
        {
            if (root.Status == NdisStatus.Success)
            {
                releasedNeighbor.OffloadState = ObjectOffloadState.NotOffloaded;
                _neighborHandles.TryRemove(releasedNeighbor.Handle, out _);
                releasedNeighbor.Slot = null;
            }
            else
            {
                releasedNeighbor.OffloadState = ObjectOffloadState.Offloaded;
            }
            return;
        }
        if (_sharedTerminates.Remove(root, out var sharedPath))
        {
            ApplySharedTerminate(root, sharedPath);
            return;
        }
        if (!_terminates.Remove(root, out var c)) return;
        var path = c.Path!;
        var neighbor = path.Neighbor;
        OffloadBlock tcp = root;
        while (tcp.Layer != OffloadLayer.Tcp) tcp = tcp.DependentBlockList!;
        path.Dependents--;
        if (root.Layer != OffloadLayer.Tcp) ApplySharedTerminate(root, path);
        _connectionHandles.TryRemove(c.Handle, out _);
        c.Handle = 0;
        c.Slot = null;
        c.UploadCount++;
        c.OffloadOutstanding = 0;
        c.PostOutstanding = false;

        var d = tcp.TcpDelegated;
        byte[] buffered = [];
        if (d?.BufferedData is { } data)
        {
            buffered = new byte[NetBufferListChain.GetDataLength(data)];
            NetBufferListChain.CopyTo(data, 0, buffered);
            _target.TcpOffloadReceiveReturn(data);
            d.BufferedData = null;
        }
        foreach (var chunk in c.Inflight) chunk.Nbl.Next = null;

        if (tcp.Status != NdisStatus.Success || d is null)
        {
            FinishConnection(c, c.Failed ? null : new IOException("The offload target lost the connection.", new SocketException((int)SocketError.ConnectionAborted)));
            ReleaseSharedIfUnused(path);
            return;
        }
        if (d.State is TcpState.CloseWait or TcpState.LastAck or TcpState.Closing or TcpState.TimeWait) c.PeerFinPending = true;
        // TIME-WAIT (the target asks for the upload on entering it, or a release found it there) goes on in host mode for
        // the rest of its 2MSL: a retransmitted FIN of the peer's is ACKed again rather than answered by a reset, and the
        // four-tuple is not reused meanwhile (RFC 9293 §3.6.1).
        bool keepTimeWait = d.State == TcpState.TimeWait && !c.Failed;
        if (!keepTimeWait && (c.Releasing || c.Failed || d.State is < TcpState.Established or > TcpState.LastAck))
        {
            if (buffered.Length > 0 && !c.Failed) c.Rx.AppendAll(buffered);
            FinishConnection(c, null);
            ReleaseSharedIfUnused(path);
            return;
        }

        // Continue in host mode with the returned state, the unacknowledged chunks and the undelivered bytes (spec §6.6).
        var sendData = new ITcpSendBuffer[c.Inflight.Count];
        int i = 0;
        foreach (var chunk in c.Inflight)
        {
            chunk.SyncLength();
            sendData[i++] = chunk;
        }
        var m = TcpMachine.FromUploadedState(TcpConfigFor(c), c.Addresses, c.Const, c.Cached, d, sendData, 0, buffered, _now);
        ApplyPathMss(c, m);
        if (_logger.IsEnabled(LogLevel.Information))
        {
            long sendBytes = 0;
            foreach (var chunk in sendData) sendBytes += chunk.Length;
            HostLog.Uploaded(_logger, c.ToString(), d.State.ToString(), sendBytes, buffered.Length);
        }
        AttachMachine(c, m);
        Statistics.Uploads++;
        if (keepTimeWait) ReleaseSharedIfUnused(path);   // never offloaded again: its path and neighbour may go
        if (c.FinIssued && d.State is TcpState.Established or TcpState.CloseWait) m.Close(); // the disconnect did not get through
        ProcessHeldInHostMode(c);
        m.DeliverBuffered();
        // A FIN the target had taken (and perhaps not yet indicated, with bytes it still held): the stream ends here once
        // those bytes are in the queue; later ones are ended by a read (AppRead) or the initiate of a re-offload.
        if (c.PeerFinPending && m.ReceiveBufferedBytes == 0) c.Rx.SetEof();
        c.UploadTcs?.TrySetResult();
        c.UploadTcs = null;
        if (c.AbortRequested)
        {
            AppAbort(c);
            return;
        }
        PumpSends(c);
        Transmit(c);
    }
}
