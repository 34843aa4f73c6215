namespace OffloadEmu.Chimney;

/// <summary>The target's indications and the host's answers (chimney spec §3, §6.2-§6.4).</summary>
public sealed partial class ContractChecker
{
    /// <inheritdoc/>
    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        ArgumentNullException.ThrowIfNull(nbl);
        List<ContractViolation>? found = null;
        ContractCheckerObject? obj;
        long length = nbl.DataLength;
        bool entered = false;
        bool tracked = false;
        lock (_lock)
        {
            obj = FindIndicated(ndisOffloadHandle, OffloadLayer.Tcp, "A receive indication", nbl, ref found);
            if (status != NdisStatus.Success)
                Add(ref found, ContractRule.IndicationStatusNotSuccess, obj, nbl, $"A receive indication with status {status}; it is always SUCCESS", handle: ndisOffloadHandle);
            bool inUse = _nbls.TryGetValue(nbl, out var owned);
            if (inUse)
                Add(ref found, ContractRule.IndicationNblInUse, obj, nbl,
                    owned.Kind == ContractCheckerNblKind.Indicated
                        ? "A receive indication with an NBL the host still holds from an earlier indication"
                        : $"A receive indication with an NBL the host posted as a {KindName(owned.Kind)}",
                    handle: ndisOffloadHandle);
            if (obj is not null) CheckIndication(obj, nbl, ref found);
            if (found is null || !Throws)
            {
                if (obj is not null)
                {
                    obj.DeliveryDepth++;
                    entered = true;
                }
                if (!inUse)
                {
                    _nbls.Add(nbl, new ContractCheckerNbl
                    {
                        Kind = ContractCheckerNblKind.Indicated,
                        Object = obj,
                        Seq = ++_clock,
                        Length = length,
                        AnswerPending = true,
                    });
                    _recentReturned.Remove(nbl);
                    tracked = true;
                }
            }
        }
        if (found is not null) Raise(found);

        NdisStatus answer;
        int consumed;
        try
        {
            answer = Upper.TcpOffloadReceiveIndicate(ndisOffloadHandle, nbl, status, out consumed);
        }
        catch
        {
            lock (_lock)
            {
                if (entered) obj!.DeliveryDepth--;
                if (tracked) _nbls.Remove(nbl);
            }
            throw;
        }

        List<ContractViolation>? late = null;
        lock (_lock)
        {
            if (entered) obj!.DeliveryDepth--;
            CheckAnswer(obj, nbl, answer, consumed, length, ndisOffloadHandle, ref late);
            if (tracked) SettleIndicated(obj, nbl, answer, ref late);
            if (obj is not null) Answered(obj, answer, consumed, length);
        }
        if (late is not null) Raise(late);
        bytesConsumed = consumed;
        return answer;
    }

    /// <inheritdoc/>
    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info)
    {
        List<ContractViolation>? found = null;
        lock (_lock)
        {
            var obj = FindIndicated(ndisOffloadHandle, OffloadLayer.Tcp, "A TCP offload event", null, ref found);
            if (obj is not null && type == TcpOffloadEventType.Disconnect)
            {
                if (obj.HeldBytes > 0)
                    Add(ref found, ContractRule.DisconnectIndicatedBeforeDataConsumed, obj, null,
                        $"The Disconnect (peer FIN) event while at least {obj.HeldBytes} received bytes the host refused or left are not yet delivered");
                if (found is null || !Throws) obj.FinIndicated = true;
            }
        }
        if (found is not null) Raise(found);
        Upper.TcpOffloadEvent(ndisOffloadHandle, type, info);
    }

    /// <inheritdoc/>
    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
    {
        ArgumentNullException.ThrowIfNull(neighborBlock);
        List<ContractViolation>? found = null;
        lock (_lock) FindIndicated(neighborBlock.NdisOffloadHandle, OffloadLayer.Neighbor, "A neighbour event", null, ref found);
        if (found is not null) Raise(found);
        Upper.NeighborOffloadEvent(neighborBlock, code);
    }

    private ContractCheckerObject? FindIndicated(ulong handle, OffloadLayer layer, string what, NetBufferList? nbl, ref List<ContractViolation>? found)
    {
        if (!_byHandle.TryGetValue(handle, out var obj))
        {
            Add(ref found, ContractRule.IndicationOnUnknownObject, null, nbl, $"{what} for handle 0x{handle:x}, which names no offloaded object (never offloaded or already terminated)", handle: handle);
            return null;
        }
        if (obj.Layer != layer)
        {
            Add(ref found, ContractRule.IndicationOnUnknownObject, obj, nbl, $"{what} for handle 0x{handle:x}, which names a {obj.Layer} object, not a {layer} object");
            return null;
        }
        return obj;
    }

    private static void CheckIndication(ContractCheckerObject obj, NetBufferList nbl, ref List<ContractViolation>? found)
    {
        if (obj.State == ContractCheckerObjectState.Offloading)
            Add(ref found, ContractRule.IndicationBeforeInitiateCompleted, obj, nbl, "Data indicated before the connection's initiate completion returned");
        if (obj.FinIndicated)
            Add(ref found, ContractRule.DataAfterDisconnectIndicated, obj, nbl, "Data indicated after the Disconnect (peer FIN) event");
        if (obj.IndicationsBlocked)
            Add(ref found, ContractRule.IndicationAfterRefusal, obj, nbl, "A receive indication after the host answered OFFLOAD_DATA_NOT_ACCEPTED and before any new receive post");
        if (obj.CapacityArmed > obj.CapacityCompleted)
            Add(ref found, ContractRule.IndicationWhilePostsAvailable, obj, nbl,
                $"A receive indication while receive post #{obj.CapacityCompleted + 1} of the connection, which the target had before the previous indication was answered, is still outstanding");
        if (obj.DeliveryDepth > 0)
            Add(ref found, ContractRule.ReceiveDeliveryOverlap, obj, nbl, "A receive indication started while a receive completion or indication of the same connection is in progress");
    }

    private static void CheckAnswer(ContractCheckerObject? obj, NetBufferList nbl, NdisStatus answer, int consumed, long length, ulong handle,
        ref List<ContractViolation>? found)
    {
        bool valid = answer switch
        {
            NdisStatus.Success => consumed >= 0 && consumed <= length,
            NdisStatus.OffloadDataNotAccepted => consumed == 0,
            NdisStatus.OffloadDataPartiallyAccepted => consumed > 0 && consumed < length,
            _ => false,
        };
        if (!valid)
            Add(ref found, ContractRule.IndicationAnswerInvalid, obj, nbl,
                $"The host answered a {length}-byte receive indication with {answer} and {consumed} bytes consumed", handle: handle);
    }

    // Ownership after the answer: SUCCESS gives the NBL to the host until its receive return; otherwise the target keeps it.
    private void SettleIndicated(ContractCheckerObject? obj, NetBufferList nbl, NdisStatus answer, ref List<ContractViolation>? found)
    {
        if (!_nbls.TryGetValue(nbl, out var entry) || entry.Kind != ContractCheckerNblKind.Indicated) return;
        if (answer == NdisStatus.Success && !entry.ReturnedEarly)
        {
            entry.AnswerPending = false;
            _nbls[nbl] = entry;
            return;
        }
        _nbls.Remove(nbl);
        if (!entry.ReturnedEarly) return;
        _recentReturned.Add(nbl);
        if (answer != NdisStatus.Success)
            Add(ref found, ContractRule.ReceiveReturnUnknown, obj, nbl, $"The host returned an indicated NBL it answered {answer}, so never owned");
    }

    // What the answer tells about data the target still holds (spec §3, §6.2) and about the posts it had by then.
    private static void Answered(ContractCheckerObject obj, NdisStatus answer, int consumed, long length)
    {
        long taken = answer switch
        {
            NdisStatus.Success => length,
            NdisStatus.OffloadDataPartiallyAccepted => Math.Clamp(consumed, 0, length),
            _ => 0,
        };
        obj.HeldBytes = Math.Max(obj.HeldBytes - taken, length - taken);
        if (answer == NdisStatus.OffloadDataNotAccepted) obj.IndicationsBlocked = true;
        obj.CapacityArmed = obj.CapacityReturned;
    }
}
