using OffloadEmu.Chimney;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Target;

internal sealed partial class TargetEngine
{
    private void HandleRequest(in TargetRequest request, Instant now)
    {
        switch (request.Kind)
        {
            case RequestKind.Initiate:
                if (_paused)
                {
                    _heldInitiates.Add(request); // spec §6.6: initiates racing a pause are queued until resume
                    return;
                }
                Initiate((OffloadBlock)request.Argument!, now);
                return;
            case RequestKind.Terminate:
                Terminate((OffloadBlock)request.Argument!, now);
                return;
            case RequestKind.Update:
                Update((OffloadBlock)request.Argument!, now);
                return;
            case RequestKind.Invalidate:
                Invalidate((OffloadBlock)request.Argument!);
                return;
            case RequestKind.Query:
                Query((OffloadBlock)request.Argument!, now);
                return;
            case RequestKind.Send:
                ForEachNbl(request, static (c, nbl, _, _) => c.Send(nbl), NdisStatus.RequestAborted, now);
                return;
            case RequestKind.Receive:
                ForEachNbl(request, static (c, nbl, n, _) => c.Post(nbl, n), NdisStatus.RequestAborted, now);
                return;
            case RequestKind.Disconnect:
                Disconnect(request, now);
                return;
            case RequestKind.Forward:
                Forward(request, now);
                return;
            case RequestKind.IndicationAnswered:
                var answered = (TcpConnection)request.Argument!;
                if (!answered.Terminated) answered.OnIndicationAnswered(request.Status, request.Value);
                else answered.AbandonIndication(request.Status);
                return;
            case RequestKind.NeighborQueryAnswered:
                OnNeighborQueryAnswered((OffloadBlock)request.Argument!, now);
                return;
            case RequestKind.Pause:
                _paused = true;
                Completions.PostIndicateStatus(Host, NdisStatus.OffloadPause);
                return;
            case RequestKind.UploadAll:
                Completions.PostIndicateStatus(Host, NdisStatus.UploadAll);
                return;
            case RequestKind.Resume:
                _paused = false;
                // New capabilities first: the host re-reads them when it sees the resume, and the initiates held during
                // the pause run under them.
                if (request.Argument is TcpConnectionOffloadCapabilities capabilities) Volatile.Write(ref _capabilities, capabilities);
                Completions.PostIndicateStatus(Host, NdisStatus.OffloadResume);
                foreach (var held in _heldInitiates) Initiate((OffloadBlock)held.Argument!, now);
                _heldInitiates.Clear();
                return;
            case RequestKind.HardwareFailure:
                if (_objects.TryGetValue(request.Context, out var failing) && failing is TcpConnection failed) failed.FailHardware();
                return;
            case RequestKind.RequestUpload:
                if (_objects.TryGetValue(request.Context, out var target) && target is TcpConnection asked)
                {
                    asked.RequestRetrieve((TcpUploadReason)request.Value);
                    asked.MarkDirty();
                }
                return;
            case RequestKind.TerminateFinished:
                var finished = (TcpConnection)request.Argument!;
                ConnectionTerminateDone(finished, finished.Terminating!, now);
                return;
            case RequestKind.Snapshot:
                Snapshot((ConnectionSnapshotRequest)request.Argument!);
                return;
        }
    }

    // Engine thread: the connections' state is read here and nowhere else; the waiter resumes on the thread pool.
    private void Snapshot(ConnectionSnapshotRequest request)
    {
        var list = new List<OffloadedConnectionInfo>(Math.Min(request.Max, TotalConnectionCount));
        int total = 0;
        foreach (var c in AllConnections)
        {
            if (c.Terminated) continue;
            total++;
            if (list.Count >= request.Max) continue;
            var m = c.Machine;
            list.Add(new OffloadedConnectionInfo
            {
                Context = c.Context, Handle = c.Handle, LocalAddress = c.Key.Local, LocalPort = c.Key.LocalPort,
                RemoteAddress = c.Key.Remote, RemotePort = c.Key.RemotePort, State = m.State,
                SndUna = m.SndUna, SndNxt = m.SndNxt, SndMax = m.SndMax, RcvNxt = m.RcvNxt, SndWnd = m.SndWnd, RcvWnd = m.RcvWnd,
                CWnd = m.CWnd, SsThresh = m.SsThresh, SRtt = m.SRtt, RttVar = m.RttVar, Rto = m.Rto, Mss = m.EffectiveMss,
                RetransmittedSegments = m.Statistics.RetransmittedSegments, RetransmitBackoff = m.RetransmitCount,
                InSegments = m.Statistics.InSegments, OutSegments = m.Statistics.OutSegments, SendQueued = m.SendQueueBytes, SendBacklog = c.SendBacklog,
                ReceiveBuffered = m.ReceiveBufferedBytes, ReceivePosts = c.PendingPosts, IndicationOutstanding = c.IndicationOutstanding,
                IndicationsBlocked = c.IndicationsBlocked,
            });
        }
        request.Result.TrySetResult((list, total));
    }

    private TcpConnection? FindConnection(ulong context)
        => _objects.TryGetValue(context, out var obj) && obj is TcpConnection { Terminated: false } c ? c : null;

    // Splits a chain into its NBLs (each handled alone, in order); an unknown context fails them all (never a hang).
    private void ForEachNbl(in TargetRequest request, Action<TcpConnection, NetBufferList, Instant, TargetEngine> action, NdisStatus unknownStatus, Instant now)
    {
        var chain = (NetBufferList?)request.Argument;
        var c = FindConnection(request.Context);
        if (c is null)
        {
            TargetLog.UnknownContext(_logger, request.Kind.ToString(), request.Context);
            FailUnknown(request.Kind, chain, unknownStatus);
            return;
        }
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            nbl.Next = null;
            action(c, nbl, now, this);
            nbl = next;
        }
        c.MarkDirty();
    }

    private void FailUnknown(RequestKind kind, NetBufferList? chain, NdisStatus status)
    {
        if (chain is null) return;
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            nbl.Status = status;
            nbl.TcpOffloadBytesTransferred = 0;
        }
        switch (kind)
        {
            case RequestKind.Send: PostSendComplete(chain); break;
            case RequestKind.Receive: PostReceiveComplete(chain); break;
            case RequestKind.Forward: PostForwardComplete(chain); break;
            case RequestKind.Disconnect: PostDisconnectComplete(chain); break;
        }
    }

    private void Disconnect(in TargetRequest request, Instant now)
    {
        var nbl = (NetBufferList)request.Argument!;
        var c = FindConnection(request.Context);
        if (c is null)
        {
            TargetLog.UnknownContext(_logger, request.Kind.ToString(), request.Context);
            FailUnknown(RequestKind.Disconnect, nbl, NdisStatus.RequestAborted);
            return;
        }
        c.SetNow(now);
        c.Disconnect(nbl, (TcpDisconnectFlags)request.Value);
    }

    /// <summary>
    /// Forward (spec §4): each NBL holds one TCP segment, header first, that the host received and did not ACK; it goes
    /// through TCP input exactly as if it came from the wire ([EMU] without a checksum check).
    /// </summary>
    private void Forward(in TargetRequest request, Instant now)
    {
        var chain = (NetBufferList?)request.Argument;
        var c = FindConnection(request.Context);
        if (c is null)
        {
            TargetLog.UnknownContext(_logger, request.Kind.ToString(), request.Context);
            FailUnknown(RequestKind.Forward, chain, NdisStatus.RequestAborted);
            return;
        }
        for (var nbl = chain; nbl is not null;)
        {
            var next = nbl.Next;
            nbl.Next = null;
            var status = ForwardOne(c, nbl, now);
            c.CompleteForward(nbl, status);
            nbl = next;
        }
        c.MarkDirty();
    }

    private NdisStatus ForwardOne(TcpConnection c, NetBufferList nbl, Instant now)
    {
        if (c.ResetReceived || c.AbortRequested || c.HardwareFailed) return NdisStatus.RequestAborted;
        if (c.Terminating is not null || c.RetrieveIndicated || c.UrgentHold) return NdisStatus.UploadInProgress;
        long length = nbl.DataLength;
        if (length < 20 || length > _forwardScratch.Length)
        {
            Stats(c.IsIpv6).Tcp.AddInErrors();
            return NdisStatus.Success; // [EMU] a malformed segment is counted and dropped; the forward itself succeeded
        }
        var span = _forwardScratch.AsSpan(0, (int)length);
        nbl.CopyTo(0, span);
        if (!TcpSegment.TryCreate(span, out var segment) || !TcpRepr.TryParseUnverified(segment, out var repr, out _))
        {
            Stats(c.IsIpv6).Tcp.AddInErrors();
            return NdisStatus.Success;
        }
        var m = c.Machine;
        if ((repr.Flags & TcpFlags.Psh) != 0 && segment.Payload.Length > 0) c.NotePush();
        var sndUna = m.SndUna;
        var rcvNxt = m.RcvNxt;
        c.SetNow(now);
        m.Process(repr, segment.Payload, now);
        Stats(c.IsIpv6).Tcp.AddInSegments();
        if (m.SndUna != sndUna || m.RcvNxt != rcvNxt) c.Path.Neighbor.Nrt = NicTicks(now);
        return c.ResetReceived || (m.PendingEvents & TcpEvents.Reset) != 0 ? NdisStatus.RequestAborted : NdisStatus.Success;
    }
}
