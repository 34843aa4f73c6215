using System.Buffers;
using System.Net.Sockets;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

public sealed partial class HostStack
{
    // ---- opening ------------------------------------------------------------------------------------------------------

    private void StartConnect(HostConnection c)
    {
        if (_targetGoneError is not null)
        {
            c.ConnectTcs?.TrySetException(TargetGoneError());
            return;
        }
        if (_connections.ContainsKey(c.Key))
        {
            c.ConnectTcs?.TrySetException(new SocketException((int)SocketError.AddressAlreadyInUse));
            return;
        }
        if (NextHop(c.Key.Remote) is not { } hop)
        {
            c.ConnectTcs?.TrySetException(new SocketException((int)SocketError.NetworkUnreachable));
            return;
        }
        var neighbor = GetNeighbor(hop);
        c.Path = GetPath(c.Key.Remote, neighbor);
        AddConnection(c);
        if (EnsureResolution(neighbor)) OpenActive(c);
        else neighbor.PendingConnects.Add(c);
    }

    private HostPath GetPath(IpAddressValue destination, NeighborEntry neighbor)
    {
        if (!_paths.TryGetValue(destination, out var path) || !ReferenceEquals(path.Neighbor, neighbor))
        {
            if (path is not null && path.OffloadState != ObjectOffloadState.NotOffloaded) return path;
            path = new HostPath(destination, neighbor, (uint)Mtu);
            _paths[destination] = path;
        }
        return path;
    }

    private void AddConnection(HostConnection c)
    {
        _connections.Add(c.Key, c);
        _connectionList.Add(c);
    }

    private void OpenActive(HostConnection c)
    {
        if (c.Location == ConnectionLocation.Closed) return;
        var m = TcpMachine.Connect(TcpConfigFor(c), c.Addresses, c.Key.LocalPort, c.Key.RemotePort, _now);
        ApplyPathMss(c, m);
        AttachMachine(c, m);
        Transmit(c);
    }

    private void PassiveOpen(OffloadListener listener, in ConnectionKey key, Span<byte> syn, MacAddress source)
    {
        if (listener.ReadyCount >= listener.Backlog)
        {
            Statistics.FramesDropped++;
            return;
        }
        if (listener.HalfOpenCount >= Options.MaxHalfOpenPerListener)
        {
            Statistics.SynsDropped++;
            Statistics.FramesDropped++;
            return;
        }
        if (NextHop(key.Remote) is not { } hop)
        {
            Statistics.FramesDropped++;
            return;
        }
        var neighbor = GetNeighbor(hop);
        // The SYN came from the next hop: its source MAC answers for it until ARP says otherwise.
        if (!neighbor.HasMac) LearnNeighbor(neighbor, source);
        var socket = new OffloadSocket(this, key.Remote, key.RemotePort, key.LocalPort);
        var c = socket.Connection;
        c.Listener = listener;
        c.HalfOpen = true;
        listener.HalfOpenCount++;
        c.Path = GetPath(key.Remote, neighbor);
        AddConnection(c);
        var m = TcpMachine.Listen(TcpConfigFor(c), c.Addresses, key.LocalPort);
        ApplyPathMss(c, m);
        AttachMachine(c, m);
        m.ProcessSegment(syn, _now);
        Transmit(c);
    }

    private void AttachMachine(HostConnection c, TcpMachine m)
    {
        m.ReceiveConsumer = c;
        m.SendCompletionSink = c;
        c.Machine = m;
        c.Location = ConnectionLocation.Host;
        TrackMachine(c);
    }

    private void TrackMachine(HostConnection c)
    {
        _timerScanAt = Instant.MinValue; // scan at the next pass
        if (c.MachineListIndex >= 0) return;
        c.MachineListIndex = _withMachine.Count;
        _withMachine.Add(c);
    }

    // Swap-remove: O(1) with 100,000 connections.
    private void UntrackMachine(HostConnection c)
    {
        int i = c.MachineListIndex;
        if (i < 0) return;
        int last = _withMachine.Count - 1;
        var moved = _withMachine[last];
        _withMachine[i] = moved;
        moved.MachineListIndex = i;
        _withMachine.RemoveAt(last);
        c.MachineListIndex = -1;
    }

    // ---- host mode ----------------------------------------------------------------------------------------------------

    /// <summary>Dispatches a host-mode machine's segments and reacts to its events.</summary>
    private void Transmit(HostConnection c)
    {
        var m = c.Machine!;
        var neighbor = c.Path!.Neighbor;
        if (neighbor.HasMac)
        {
            if (neighbor.State == NeighborState.Reachable && _now >= neighbor.ReachableUntil) EnsureResolution(neighbor);
            _writer.Destination = neighbor.Mac;
            _writer.RemoteAddress = c.Key.Remote;
            m.Dispatch(_now, _writer);
        }
        else
        {
            // No hardware address: nothing goes out, the machine retransmits once resolution succeeds.
            EnsureResolution(neighbor);
        }
        AfterMachineWork(c);
        NoteMachineTimer(c);
    }

    private void AfterMachineWork(HostConnection c)
    {
        var m = c.Machine!;
        var events = m.TakeEvents();
        if ((events & TcpEvents.ReturnedToListen) != 0)
        {
            // A half-open passive connection was reset (or its SYN-ACK went unanswered): the listener still listens and
            // makes a new machine for the next SYN, so this one, which no application has seen, goes (RFC 9293 MUST-11).
            FinishConnection(c, null);
            return;
        }
        if ((events & TcpEvents.Connected) != 0)
        {
            if (c.ConnectTcs is { } connect)
            {
                c.ConnectTcs = null;
                connect.TrySetResult(c.Socket);
            }
            else if (c.Listener is { } listener)
            {
                LeaveHalfOpen(c);
                listener.Enqueue(c.Socket);
            }
        }
        if ((events & TcpEvents.PeerClosed) != 0) c.PeerFinPending = true;
        if ((events & TcpEvents.Reset) != 0)
        {
            FailConnection(c, ReceiveQueue.ResetError("The peer reset the connection."));
            return;
        }
        if ((events & (TcpEvents.RetransmitTimeout | TcpEvents.KeepAliveTimeout | TcpEvents.PersistTimeout | TcpEvents.FinWait2Timeout)) != 0)
        {
            m.Abort();
            m.Dispatch(_now, _writer);
            FailConnection(c, new IOException("The connection timed out.", new SocketException((int)SocketError.TimedOut)));
            return;
        }
        if (c.PeerFinPending && m.ReceiveBufferedBytes == 0) c.Rx.SetEof();
        if (c.ShutdownTcs is { } shutdown && m.State is TcpState.FinWait2 or TcpState.TimeWait or TcpState.Closed)
        {
            c.ShutdownTcs = null;
            shutdown.TrySetResult();
        }
        if (m.State == TcpState.Closed || (events & TcpEvents.Closed) != 0)
        {
            if (c.ConnectTcs is { } connect)
            {
                c.ConnectTcs = null;
                connect.TrySetException(new SocketException((int)SocketError.ConnectionRefused));
            }
            FinishConnection(c, null);
            return;
        }
        ConsiderOffload(c);
    }

    // The earliest PollAt of the host-mode machines as of the last scan, lowered whenever a machine is worked on
    // (Transmit, DispatchOnly, a machine attached): the loop scans them only when that instant has come, or every
    // second as a safety net (every path that works a machine lowers it), instead of on every pass (with 100,000 connections handshaking faster than
    // they are offloaded, the scan on every pass made each offload take ~80 ms, issue 7). Manual mode scans every poll.
    private Instant _timerScanAt = Instant.MinValue;
    private Instant _lastTimerScan = Instant.MinValue;
    private const long TimerScanIntervalMicroseconds = 1_000_000;

    private void NoteMachineTimer(HostConnection c)
    {
        if (c.Machine is { } m && c.Location == ConnectionLocation.Host)
        {
            var at = m.PollAt();
            if (at < _timerScanAt) _timerScanAt = at;
        }
    }

    private int RunConnectionTimers()
    {
        if (_thread is not null && _now < _timerScanAt && _now.Microseconds - _lastTimerScan.Microseconds < TimerScanIntervalMicroseconds) return 0;
        _lastTimerScan = _now;
        _timerScanAt = Instant.MaxValue;
        int work = 0;
        for (int i = 0; i < _withMachine.Count; i++)
        {
            var c = _withMachine[i];
            if (c.Location != ConnectionLocation.Host || c.Machine is not { } m) continue;
            var at = m.PollAt();
            if (at > _now)
            {
                if (at < _timerScanAt) _timerScanAt = at;
                continue;
            }
            work++;
            Transmit(c);
            // Removed while transmitting (the last one took its place): look at this slot again. One moved into an
            // earlier slot waits for the next pass.
            if (i < _withMachine.Count && !ReferenceEquals(_withMachine[i], c)) i--;
        }
        return work;
    }

    // ---- application requests ---------------------------------------------------------------------------------------

    private void AppSend(HostConnection c, SendChunk chunk)
    {
        lock (c.IoGate)
        {
            c.SendsQueued--;
            if (c.Location == ConnectionLocation.Closed || c.Failed || c.ShutdownRequested)
            {
                c.Socket.ReleaseSend(chunk.Written);
                Chunks.Return(chunk);
                return;
            }
            // Under the gate: a completion handled on the target's worker may be pumping this queue (direct I/O).
            c.Pending.Enqueue(chunk);
        }
        PumpSends(c);
    }

    /// <summary>Hands pending chunks on: to the host machine, or to the target within its send backlog.</summary>
    private void PumpSends(HostConnection c)
    {
        switch (c.Location)
        {
            case ConnectionLocation.Host:
            {
                var m = c.Machine!;
                bool any = false;
                while (c.Pending.TryDequeue(out var chunk))
                {
                    chunk.SyncLength();
                    if (!m.Enqueue(chunk))
                    {
                        c.Socket.ReleaseSend(chunk.Written);
                        Chunks.Return(chunk);
                        continue;
                    }
                    c.Inflight.Enqueue(chunk);
                    any = true;
                }
                if (c.ShutdownRequested && !c.FinIssued)
                {
                    c.FinIssued = true;
                    m.Close();
                    any = true;
                }
                if (any) Transmit(c);
                break;
            }
            case ConnectionLocation.Offloaded:
                PumpOffloadedSends(c);
                break;
        }
    }

    private void AppRead(HostConnection c)
    {
        switch (c.Location)
        {
            case ConnectionLocation.Host:
                var m = c.Machine!;
                if (m.ReceiveBufferedBytes > 0 && m.DeliverBuffered() > 0) Transmit(c);
                else if (c.PeerFinPending && m.ReceiveBufferedBytes == 0) c.Rx.SetEof();
                break;
            case ConnectionLocation.Offloaded:
                MaybePostReceive(c);
                break;
        }
    }

    private void AppShutdown(HostConnection c, TaskCompletionSource tcs, bool close)
    {
        if (close) c.CloseRequested = true;
        if (c.Location == ConnectionLocation.Closed)
        {
            tcs.TrySetResult();
            return;
        }
        if (c.FinIssued && c.ShutdownTcs is null)
        {
            tcs.TrySetResult();
            MaybeRelease(c);
            return;
        }
        if (c.ShutdownTcs is { } earlier)
        {
            // Chain: both complete when the FIN is acknowledged.
            earlier.Task.ContinueWith(static (_, s) => ((TaskCompletionSource)s!).TrySetResult(), tcs, TaskScheduler.Default);
        }
        else
        {
            c.ShutdownTcs = tcs;
        }
        lock (c.IoGate)
        {
            // Writes after this go through the loop (and are refused there); the FIN follows what went before.
            c.DirectSend = false;
            c.ShutdownRequested = true;
        }
        PumpSends(c);
        MaybeRelease(c);
    }

    private void AppAbort(HostConnection c)
    {
        CloseIoGates(c);
        c.AbortRequested = true;
        var error = new IOException("The connection was aborted.", new SocketException((int)SocketError.ConnectionAborted));
        switch (c.Location)
        {
            case ConnectionLocation.Host:
                var m = c.Machine!;
                m.Abort();
                if (c.Path!.Neighbor.HasMac)
                {
                    _writer.Destination = c.Path.Neighbor.Mac;
                    _writer.RemoteAddress = c.Key.Remote;
                    m.Dispatch(_now, _writer);
                }
                m.TakeEvents();
                FinishConnection(c, error);
                break;
            case ConnectionLocation.Offloaded:
                c.Rx.SetError(error);
                c.Socket.FailWrites(error);
                AbortOffloaded(c);
                break;
            default:
                // Offloading / uploading: abort once the operation completed (the flag is checked there).
                c.Rx.SetError(error);
                c.Socket.FailWrites(error);
                break;
        }
    }

    // ---- completion and teardown --------------------------------------------------------------------------------------

    /// <summary>Releases the chunks at the head of the in-flight queue that completed (FIFO).</summary>
    internal void ReleaseDoneChunks(HostConnection c)
    {
        while (c.Inflight.TryPeek(out var head) && head.Done)
        {
            c.Inflight.Dequeue();
            c.Socket.ReleaseSend(head.Written);
            Chunks.Return(head);
        }
    }

    /// <summary>The peer reset, a timer gave up, or the target aborted: reads and writes fail, the connection ends.</summary>
    private void FailConnection(HostConnection c, Exception error)
    {
        CloseIoGates(c);
        c.Failed = true;
        c.Rx.SetError(error);
        c.Socket.FailWrites(error);
        if (c.ConnectTcs is { } connect)
        {
            c.ConnectTcs = null;
            connect.TrySetException(error);
        }
        if (c.Location == ConnectionLocation.Host) FinishConnection(c, error);
        else if (c.Location == ConnectionLocation.Offloaded) StartUpload(c, releasing: true);
    }

    /// <summary>Removes a connection that is over and gives every buffer back.</summary>
    private static void LeaveHalfOpen(HostConnection c)
    {
        if (!c.HalfOpen) return;
        c.HalfOpen = false;
        c.Listener!.HalfOpenCount--;
    }

    private void FinishConnection(HostConnection c, Exception? error)
    {
        LeaveHalfOpen(c);
        if (c.Location == ConnectionLocation.Closed) return;
        CloseIoGates(c);
        c.Location = ConnectionLocation.Closed;
        if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
            HostLog.Closed(_logger, c.ToString(), error is null ? "" : ": " + error.Message);
        if (error is not null)
        {
            c.Rx.SetError(error);
            c.Socket.FailWrites(error);
        }
        else
        {
            c.Rx.SetEof();
            c.Socket.FailWrites(new IOException("The connection is closed.", new SocketException((int)SocketError.Shutdown)));
        }
        if (c.ShutdownTcs is { } shutdown)
        {
            c.ShutdownTcs = null;
            if (error is null) shutdown.TrySetResult();
            else shutdown.TrySetException(error);
        }
        c.OffloadTcs?.TrySetResult(false);
        c.OffloadTcs = null;
        c.UploadTcs?.TrySetResult();
        c.UploadTcs = null;
        while (c.Inflight.TryDequeue(out var chunk))
        {
            c.Socket.ReleaseSend(chunk.Written);
            Chunks.Return(chunk);
        }
        while (c.Pending.TryDequeue(out var chunk))
        {
            c.Socket.ReleaseSend(chunk.Written);
            Chunks.Return(chunk);
        }
        foreach (var (buffer, _) in c.Held) ArrayPool<byte>.Shared.Return(buffer);
        c.Held.Clear();
        if (c.Machine is { } m)
        {
            m.ReceiveConsumer = null;
            m.SendCompletionSink = null;
            m.ReleaseReceiveBuffer();
        }
        UntrackMachine(c);
        _connections.Remove(c.Key);
        _connectionList.Remove(c);
        if (c.Handle != 0) _connectionHandles.TryRemove(c.Handle, out _);
        // A path kept offloaded for re-offload (after an upload) goes when its last user does.
        if (c.Path is { } path) ReleaseSharedIfUnused(path);
    }
}
