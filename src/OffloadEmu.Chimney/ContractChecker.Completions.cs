namespace OffloadEmu.Chimney;

/// <summary>The target's completions of TCP I/O (chimney spec §3, §4, §5, §6.1).</summary>
public sealed partial class ContractChecker
{
    // Connections a receive completion entered beyond the first, per thread; a stack so nested calls share it.
    [ThreadStatic]
    private static List<ContractCheckerObject>? t_entered;

    /// <inheritdoc/>
    public void TcpOffloadSendComplete(NetBufferList chain)
    {
        var found = CompleteIo(ContractCheckerNblKind.Send, chain, out _);
        if (found is not null) Raise(found);
        Upper.TcpOffloadSendComplete(chain);
    }

    /// <inheritdoc/>
    public void TcpOffloadDisconnectComplete(NetBufferList nbl)
    {
        var found = CompleteIo(ContractCheckerNblKind.Disconnect, nbl, out _);
        if (found is not null) Raise(found);
        Upper.TcpOffloadDisconnectComplete(nbl);
    }

    /// <inheritdoc/>
    public void TcpOffloadForwardComplete(NetBufferList chain)
    {
        var found = CompleteIo(ContractCheckerNblKind.Forward, chain, out _);
        if (found is not null) Raise(found);
        Upper.TcpOffloadForwardComplete(chain);
    }

    /// <inheritdoc/>
    /// <remarks>Receive completions and indications of one connection must not overlap (spec §3): the connections of the chain count as delivering until the host returns.</remarks>
    public void TcpOffloadReceiveComplete(NetBufferList chain)
    {
        var entered = t_entered ??= new List<ContractCheckerObject>(4);
        int mark = entered.Count;
        ContractCheckerObject? first = null;
        try
        {
            var found = CompleteIo(ContractCheckerNblKind.Receive, chain, out first);
            if (found is not null) Raise(found);
            Upper.TcpOffloadReceiveComplete(chain);
        }
        finally
        {
            if (first is not null || entered.Count > mark)
            {
                lock (_lock)
                {
                    if (first is not null) first.DeliveryDepth--;
                    for (int i = mark; i < entered.Count; i++) entered[i].DeliveryDepth--;
                }
                entered.RemoveRange(mark, entered.Count - mark);
            }
        }
    }

    private List<ContractViolation>? CompleteIo(ContractCheckerNblKind kind, NetBufferList chain, out ContractCheckerObject? firstEntered)
    {
        ArgumentNullException.ThrowIfNull(chain);
        firstEntered = null;
        List<ContractViolation>? found = null;
        lock (_lock)
        {
            long call = ++_clock;
            if (HasCycle(chain))
            {
                Add(ref found, ContractRule.DuplicateCompletion, null, chain, $"The {KindName(kind)} completion chain has a cycle: an NBL is completed twice");
                return found;
            }
            for (var nbl = chain; nbl is not null; nbl = nbl.Next)
            {
                if (!_nbls.TryGetValue(nbl, out var entry) || entry.Kind == ContractCheckerNblKind.Indicated)
                {
                    if (_recentCompleted.Contains(nbl))
                        Add(ref found, ContractRule.DuplicateCompletion, null, nbl, $"A {KindName(kind)} NBL completed a second time");
                    else
                        Add(ref found, ContractRule.UnknownCompletion, entry.Object, nbl, $"A {KindName(kind)} completion of an NBL no {KindName(kind)} request carried");
                    continue;
                }
                if (entry.Kind != kind)
                {
                    Add(ref found, ContractRule.UnknownCompletion, entry.Object, nbl, $"A {KindName(entry.Kind)} NBL completed as a {KindName(kind)}");
                    continue;
                }
                var obj = entry.Object;
                if (obj is not null)
                {
                    if (obj.State == ContractCheckerObjectState.Terminated)
                        Add(ref found, ContractRule.CompletionAfterTerminate, obj, nbl, $"A {KindName(kind)} completed after the connection's terminate completed");
                    if (kind == ContractCheckerNblKind.Send)
                    {
                        CheckFifo(obj, obj.Sends!, nbl, entry, "send", ref found);
                        CheckAfterFailedSend(obj, nbl, call, ref found);
                    }
                    else if (kind == ContractCheckerNblKind.Receive) CheckFifo(obj, obj.Receives!, nbl, entry, "receive post", ref found);
                    else if (kind == ContractCheckerNblKind.Disconnect) CheckNoEarlierSends(obj, nbl, entry, ref found);
                }
                CheckByteCount(kind, nbl, entry, ref found);
                _nbls.Remove(nbl);
                _recentCompleted.Add(nbl);
                Released(entry);
                if (kind == ContractCheckerNblKind.Receive && obj is not null) Delivered(obj, nbl, call, ref firstEntered, ref found);
            }
        }
        return found;
    }

    // A receive completion places data: it consumes held bytes, must not follow the FIN, and enters the connection's delivery.
    private static void Delivered(ContractCheckerObject obj, NetBufferList nbl, long deliveryCall, ref ContractCheckerObject? firstEntered,
        ref List<ContractViolation>? found)
    {
        int bytes = nbl.TcpOffloadBytesTransferred;
        if (bytes > 0)
        {
            obj.HeldBytes = Math.Max(0, obj.HeldBytes - bytes);
            if (obj.FinIndicated)
                Add(ref found, ContractRule.DataAfterDisconnectIndicated, obj, nbl, $"A receive post completed with {bytes} bytes after the Disconnect (peer FIN) event");
        }
        if (obj.DeliveryCall == deliveryCall) return;
        obj.DeliveryCall = deliveryCall;
        if (obj.DeliveryDepth > 0)
            Add(ref found, ContractRule.ReceiveDeliveryOverlap, obj, nbl, "A receive completion started while a receive completion or indication of the same connection is in progress");
        obj.DeliveryDepth++;
        if (firstEntered is null) firstEntered = obj;
        else t_entered!.Add(obj);
    }

    private void CheckFifo(ContractCheckerObject obj, Queue<ContractCheckerQueued> queue, NetBufferList nbl, in ContractCheckerNbl entry, string what,
        ref List<ContractViolation>? found)
    {
        SkipStale(queue);
        if (queue.Count > 0)
        {
            var head = queue.Peek();
            if (ReferenceEquals(head.Nbl, nbl) && head.Seq == entry.Seq)
            {
                queue.Dequeue();
                return;
            }
            Add(ref found, ContractRule.CompletionOutOfOrder, obj, nbl,
                $"A {what} completed while an earlier {what} of the connection (request {head.Nbl.RequestId}) is still outstanding; they complete in order");
        }
    }

    // Spec §5: at most one NBL per completion may be partial; the sends after a failed one fail without more transmission.
    private static void CheckAfterFailedSend(ContractCheckerObject obj, NetBufferList nbl, long call, ref List<ContractViolation>? found)
    {
        if (obj.SendFailureCall == call && (nbl.Status == NdisStatus.Success || nbl.TcpOffloadBytesTransferred > 0))
            Add(ref found, ContractRule.CompletionByteCount, obj, nbl,
                $"A send completed {nbl.Status} with {nbl.TcpOffloadBytesTransferred} bytes after an earlier send of the connection failed in the same completion; at most one NBL per completion is partial and the later ones fail with no bytes");
        if (nbl.Status != NdisStatus.Success) obj.SendFailureCall = call;
    }

    private void CheckNoEarlierSends(ContractCheckerObject obj, NetBufferList nbl, in ContractCheckerNbl entry, ref List<ContractViolation>? found)
    {
        SkipStale(obj.Sends!);
        if (obj.Sends!.Count > 0 && obj.Sends.Peek().Seq < entry.Seq)
            Add(ref found, ContractRule.DisconnectBeforeEarlierSends, obj, nbl,
                $"The disconnect completed while an earlier send (request {obj.Sends.Peek().Nbl.RequestId}) is still outstanding; earlier sends complete first");
    }

    private static void CheckByteCount(ContractCheckerNblKind kind, NetBufferList nbl, in ContractCheckerNbl entry, ref List<ContractViolation>? found)
    {
        if (kind == ContractCheckerNblKind.Forward) return; // spec §4: no byte-count reporting
        long bytes = nbl.TcpOffloadBytesTransferred;
        if (bytes < 0 || bytes > entry.Length)
            Add(ref found, ContractRule.CompletionByteCount, entry.Object, nbl,
                $"A {KindName(kind)} completed with {bytes} bytes transferred; the request carried {entry.Length}");
        else if (kind == ContractCheckerNblKind.Receive) CheckAdvanced(nbl, entry, bytes, ref found);
        else if (kind != ContractCheckerNblKind.Receive && nbl.Status == NdisStatus.Success && bytes != entry.Length)
            Add(ref found, ContractRule.CompletionByteCount, entry.Object, nbl,
                $"A {KindName(kind)} completed SUCCESS with {bytes} bytes transferred but carried {entry.Length}; SUCCESS means every byte was sent and ACKed");
    }

    // Spec §3: "NB start advanced by it": every NB's data start moved past the bytes placed in it, in total exactly the
    // bytes transferred, and the window's end stayed where the host put it.
    private static void CheckAdvanced(NetBufferList nbl, in ContractCheckerNbl entry, long bytes, ref List<ContractViolation>? found)
    {
        long moved = DataStart(nbl) - entry.DataStart;
        long left = nbl.DataLength;
        if (moved == bytes && left == entry.Length - bytes) return;
        Add(ref found, ContractRule.ReceiveCompletionNotAdvanced, entry.Object, nbl,
            moved == bytes
                ? $"A receive post completed with {bytes} bytes placed and its data start advanced by them, but {left} bytes of data window left instead of {entry.Length - bytes}: the window's end moved"
                : $"A receive post completed with {bytes} bytes placed but its data start moved by {moved}; the target advances it by exactly the bytes placed (NdisAdvanceNetBufferDataStart)");
    }
}
