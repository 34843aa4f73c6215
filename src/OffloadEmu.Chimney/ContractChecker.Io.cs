namespace OffloadEmu.Chimney;

/// <summary>The host's TCP I/O requests and receive returns (chimney spec §3-§6.1).</summary>
public sealed partial class ContractChecker
{
    /// <inheritdoc/>
    public NdisStatus TcpOffloadSend(ulong context, NetBufferList chain) => Io(ContractCheckerNblKind.Send, context, chain, 0);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain) => Io(ContractCheckerNblKind.Receive, context, chain, 0);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadDisconnect(ulong context, NetBufferList nbl, TcpDisconnectFlags flags)
        => Io(ContractCheckerNblKind.Disconnect, context, nbl, flags);

    /// <inheritdoc/>
    public NdisStatus TcpOffloadForward(ulong context, NetBufferList chain) => Io(ContractCheckerNblKind.Forward, context, chain, 0);

    /// <inheritdoc/>
    /// <remarks>Checked: every NBL must be one the host holds from an accepted indication or from a terminate's buffered data (spec §3, §6.6).</remarks>
    public NdisStatus TcpOffloadReceiveReturn(NetBufferList chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        List<ContractViolation>? found = null;
        lock (_lock)
        {
            if (HasCycle(chain))
            {
                Add(ref found, ContractRule.ReceiveReturnTwice, null, chain, "Receive return of a chain with a cycle: an NBL is returned twice");
            }
            else
            {
                for (var nbl = chain; nbl is not null; nbl = nbl.Next) CheckReturn(nbl, ref found);
                if (found is null || !Throws)
                {
                    for (var nbl = chain; nbl is not null; nbl = nbl.Next) CommitReturn(nbl);
                }
            }
        }
        if (found is not null) Raise(found);
        var status = _lower.TcpOffloadReceiveReturn(chain);
        if (status != NdisStatus.Success)
        {
            List<ContractViolation>? late = null;
            Add(ref late, ContractRule.ReceiveReturnNotSuccess, null, chain, $"Receive return answered {status}; it is synchronous and cannot fail");
            Raise(late!);
        }
        return status;
    }

    private void CheckReturn(NetBufferList nbl, ref List<ContractViolation>? found)
    {
        if (_nbls.TryGetValue(nbl, out var entry))
        {
            if (entry.Kind != ContractCheckerNblKind.Indicated)
                Add(ref found, ContractRule.ReceiveReturnUnknown, entry.Object, nbl, $"Receive return of an NBL the target owns as a {KindName(entry.Kind)}, never indicated");
            else if (entry.ReturnedEarly)
                Add(ref found, ContractRule.ReceiveReturnTwice, entry.Object, nbl, "Indicated NBL returned a second time");
            return;
        }
        if (_recentReturned.Contains(nbl))
            Add(ref found, ContractRule.ReceiveReturnTwice, null, nbl, "Indicated NBL returned a second time");
        else
            Add(ref found, ContractRule.ReceiveReturnUnknown, null, nbl, "Receive return of an NBL the target never indicated (or the host refused, or was never handed back at terminate)");
    }

    private void CommitReturn(NetBufferList nbl)
    {
        if (!_nbls.TryGetValue(nbl, out var entry) || entry.Kind != ContractCheckerNblKind.Indicated || entry.ReturnedEarly) return;
        if (entry.AnswerPending)
        {
            // Returned on another thread before the indicate call came back up: settled when the answer arrives.
            entry.ReturnedEarly = true;
            _nbls[nbl] = entry;
            return;
        }
        _nbls.Remove(nbl);
        _recentReturned.Add(nbl);
    }

    private NdisStatus Io(ContractCheckerNblKind kind, ulong context, NetBufferList chain, TcpDisconnectFlags flags)
    {
        ArgumentNullException.ThrowIfNull(chain);
        List<ContractViolation>? found = null;
        ContractCheckerObject? obj;
        long request;
        long lastCapacity = 0;
        lock (_lock)
        {
            request = ++_clock;
            obj = FindConnection(kind, context, chain, ref found);
            if (HasCycle(chain))
            {
                Add(ref found, ContractRule.NblStillOwned, obj, chain, $"The {KindName(kind)} chain has a cycle: an NBL is posted twice", context);
            }
            else
            {
                for (var nbl = chain; nbl is not null; nbl = nbl.Next)
                {
                    if (_nbls.TryGetValue(nbl, out var owned)) ReportOwned(kind, nbl, owned, context, ref found);
                    if (kind == ContractCheckerNblKind.Receive) CheckPrefill(obj, nbl, context, ref found);
                }
            }
            if (found is null || !Throws) lastCapacity = Register(kind, obj, chain, request);
        }
        if (found is not null) Raise(found);

        NdisStatus status;
        try
        {
            status = kind switch
            {
                ContractCheckerNblKind.Send => _lower.TcpOffloadSend(context, chain),
                ContractCheckerNblKind.Receive => _lower.TcpOffloadReceive(context, chain),
                ContractCheckerNblKind.Disconnect => _lower.TcpOffloadDisconnect(context, chain, flags),
                _ => _lower.TcpOffloadForward(context, chain),
            };
        }
        catch
        {
            lock (_lock) Unregister(chain, request);
            throw;
        }

        if (status == NdisStatus.Pending)
        {
            if (lastCapacity != 0)
            {
                // The target has these posts now: an indication answered from here on must leave data to them (spec §3).
                lock (_lock)
                {
                    if (lastCapacity > obj!.CapacityReturned) obj.CapacityReturned = lastCapacity;
                }
            }
            return status;
        }
        List<ContractViolation>? late = null;
        lock (_lock)
        {
            // The target did not take the NBLs: the host owns them again.
            Unregister(chain, request);
            Add(ref late, ContractRule.RequestNotPending, obj, chain, $"The {KindName(kind)} request returned {status}; TCP I/O requests return PENDING only", context);
        }
        Raise(late!);
        return status;
    }

    private ContractCheckerObject? FindConnection(ContractCheckerNblKind kind, ulong context, NetBufferList chain, ref List<ContractViolation>? found)
    {
        if (!_byContext.TryGetValue(context, out var obj) || obj.Layer != OffloadLayer.Tcp)
        {
            Add(ref found, ContractRule.IoOnUnknownConnection, null, chain,
                obj is null
                    ? $"A {KindName(kind)} on context 0x{context:x}, which is not an offloaded connection (never offloaded, initiate not completed, or terminated)"
                    : $"A {KindName(kind)} on context 0x{context:x}, which is a {obj.Layer} object, not a TCP connection",
                context, obj?.Handle ?? 0);
            return null;
        }
        if (obj.State == ContractCheckerObjectState.Terminating)
            Add(ref found, ContractRule.IoAfterTerminate, obj, chain, $"A {KindName(kind)} after the connection's terminate was issued; the host must not post new I/O then");
        return obj;
    }

    // Pre-filled bytes (spec §3) lie before the post's data window, which is the free space: no more of them than the
    // bytes before the first NB's data start.
    private static void CheckPrefill(ContractCheckerObject? obj, NetBufferList nbl, ulong context, ref List<ContractViolation>? found)
    {
        int prefilled = nbl.TcpReceiveBytesTransferred;
        if (prefilled == 0) return;
        int before = nbl.BufferCount == 0 ? 0 : nbl[0].DataOffset;
        if (prefilled < 0 || prefilled > before)
            Add(ref found, ContractRule.ReceivePostPrefillInvalid, obj, nbl,
                $"A receive post with TcpReceiveBytesTransferred {prefilled} but {before} bytes before its data start; pre-filled bytes lie before the data window, which is the free space the target fills",
                context);
    }

    private void ReportOwned(ContractCheckerNblKind kind, NetBufferList nbl, in ContractCheckerNbl owned, ulong context, ref List<ContractViolation>? found)
        => Add(ref found, ContractRule.NblStillOwned, owned.Object, nbl,
            owned.Kind == ContractCheckerNblKind.Indicated
                ? $"A {KindName(kind)} with an NBL the target indicated and the host has not returned"
                : $"A {KindName(kind)} with an NBL the target still owns from an earlier {KindName(owned.Kind)}",
            context);

    // Returns the capacity ordinal of the last receive post able to take data (0 if none).
    private long Register(ContractCheckerNblKind kind, ContractCheckerObject? obj, NetBufferList chain, long request)
    {
        long lastCapacity = 0;
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            if (_nbls.TryGetValue(nbl, out var existing))
            {
                // Record mode: an NBL already owned stays with its first request; meeting this request's own again is a cycle.
                if (existing.Request == request) break;
                continue;
            }
            var entry = new ContractCheckerNbl
            {
                Kind = kind,
                Object = obj,
                Seq = ++_clock,
                Request = request,
                Length = nbl.DataLength,
                DataStart = kind == ContractCheckerNblKind.Receive ? DataStart(nbl) : 0,
            };
            if (obj is not null)
            {
                switch (kind)
                {
                    case ContractCheckerNblKind.Send:
                        obj.Sends!.Enqueue(new ContractCheckerQueued(nbl, entry.Seq));
                        obj.OutstandingSends++;
                        break;
                    case ContractCheckerNblKind.Receive:
                        obj.Receives!.Enqueue(new ContractCheckerQueued(nbl, entry.Seq));
                        obj.OutstandingReceives++;
                        // The data window is the free space (pre-filled bytes lie before it): any room takes data.
                        if (entry.Length > 0) lastCapacity = entry.CapacityOrdinal = ++obj.CapacityPosted;
                        break;
                    case ContractCheckerNblKind.Disconnect:
                        obj.OutstandingDisconnects++;
                        break;
                    default:
                        obj.OutstandingForwards++;
                        break;
                }
            }
            _nbls.Add(nbl, entry);
            _recentCompleted.Remove(nbl);
        }
        // Any post, even zero-byte, re-arms indications after a refusal (spec §3).
        if (kind == ContractCheckerNblKind.Receive && obj is not null) obj.IndicationsBlocked = false;
        return lastCapacity;
    }

    // Sum of the NBs' data offsets: how far into their buffers the data windows start.
    private static long DataStart(NetBufferList nbl)
    {
        long total = 0;
        for (int i = 0; i < nbl.BufferCount; i++) total += nbl[i].DataOffset;
        return total;
    }

    // Forgets the NBLs of one request that are still tracked (the target did not take them).
    private void Unregister(NetBufferList chain, long request)
    {
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            if (!_nbls.TryGetValue(nbl, out var entry) || entry.Request != request) break;
            _nbls.Remove(nbl);
            Released(entry);
        }
    }

    // Counters of a request NBL that left the target; its FIFO entry goes stale and is skipped lazily.
    private static void Released(in ContractCheckerNbl entry)
    {
        if (entry.Object is not { } obj) return;
        switch (entry.Kind)
        {
            case ContractCheckerNblKind.Send:
                obj.OutstandingSends--;
                break;
            case ContractCheckerNblKind.Receive:
                obj.OutstandingReceives--;
                if (entry.CapacityOrdinal > obj.CapacityCompleted) obj.CapacityCompleted = entry.CapacityOrdinal;
                break;
            case ContractCheckerNblKind.Disconnect:
                obj.OutstandingDisconnects--;
                break;
            case ContractCheckerNblKind.Forward:
                obj.OutstandingForwards--;
                break;
        }
    }

    private void SkipStale(Queue<ContractCheckerQueued> queue)
    {
        while (queue.Count > 0)
        {
            var head = queue.Peek();
            if (_nbls.TryGetValue(head.Nbl, out var entry) && entry.Seq == head.Seq) return;
            queue.Dequeue();
        }
    }
}
