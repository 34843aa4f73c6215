using OffloadEmu.Chimney;

namespace OffloadEmu.HostStack;

/// <summary>
/// The host stack's <see cref="IOffloadHost"/>: every completion, event and frame becomes an inbox command for the
/// engine loop. The two handlers that must answer synchronously do so without touching loop state: a receive
/// indication (and the data of a receive completion, so that the two stay in the target's order) goes straight into
/// the connection's <see cref="ReceiveQueue"/>, a neighbour reachability query reads a volatile flag.
/// </summary>
internal sealed class ChimneyHost(HostStack stack) : IOffloadHost
{
    public void InitiateOffloadComplete(OffloadBlock root) => stack.Post(new HostCommand { Kind = CommandKind.InitiateComplete, Object = root });

    public void TerminateOffloadComplete(OffloadBlock root) => stack.Post(new HostCommand { Kind = CommandKind.TerminateComplete, Object = root });

    public void UpdateOffloadComplete(OffloadBlock root) => stack.Post(new HostCommand { Kind = CommandKind.UpdateComplete, Object = root });

    public void InvalidateOffloadComplete(OffloadBlock root) => stack.Post(new HostCommand { Kind = CommandKind.InvalidateComplete, Object = root });

    public void QueryOffloadStateComplete(OffloadBlock root) => stack.Post(new HostCommand { Kind = CommandKind.QueryComplete, Object = root });

    public void TcpOffloadSendComplete(NetBufferList chain)
    {
        // Direct offloaded I/O: completions of a quiet connection are handled here; the rest goes to the loop.
        var rest = stack.CompleteSendsDirect(chain);
        if (rest is not null) stack.Post(new HostCommand { Kind = CommandKind.SendComplete, Object = rest });
    }

    public void TcpOffloadReceiveComplete(NetBufferList chain)
    {
        // Copy the data now, in callback order (spec §3: completions and indications are serialized per connection and
        // the target fills posts only with data after what it indicated), then let the loop recycle the posts.
        using (ReceiveQueue.DeliverInline(stack.InlineReads))
        {
            for (var nbl = chain; nbl is not null; nbl = nbl.Next)
            {
                if (nbl.ProtocolReserved is not HostConnection c) continue;
                // The bytes placed lie just before the advanced data start (spec §3); the host never pre-fills its posts.
                int bytes = nbl.TcpOffloadBytesTransferred;
                if (bytes > 0) HostStack.AppendPlaced(c.Rx, nbl, bytes);
            }
        }
        var rest = stack.CompleteReceivesDirect(chain);
        if (rest is not null) stack.Post(new HostCommand { Kind = CommandKind.ReceiveComplete, Object = rest });
    }

    public void TcpOffloadDisconnectComplete(NetBufferList nbl) => stack.Post(new HostCommand { Kind = CommandKind.DisconnectComplete, Object = nbl });

    public void TcpOffloadForwardComplete(NetBufferList chain) => stack.Post(new HostCommand { Kind = CommandKind.ForwardComplete, Object = chain });

    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        bytesConsumed = 0;
        if (!stack.TryGetConnectionByHandle(ndisOffloadHandle, out var c))
            return NdisStatus.OffloadDataNotAccepted;
        int length = (int)nbl.DataLength;
        int free = c.Rx.Free;
        if (free >= length)
        {
            using (ReceiveQueue.DeliverInline(stack.InlineReads)) HostStack.AppendNbl(c.Rx, nbl, length);
            bytesConsumed = length;
            stack.Post(new HostCommand { Kind = CommandKind.ReceiveReturn, Object = nbl });
            return NdisStatus.Success;
        }
        c.IndicationsBlocked = true;
        if (free > 0)
        {
            bytesConsumed = HostStack.AppendNbl(c.Rx, nbl, free);
            if (bytesConsumed > 0) return NdisStatus.OffloadDataPartiallyAccepted;
        }
        bytesConsumed = 0;
        return NdisStatus.OffloadDataNotAccepted;
    }

    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info)
        => stack.Post(new HostCommand { Kind = CommandKind.TcpEvent, Value = ndisOffloadHandle, Length = (int)type, Info = info });

    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
    {
        // Spec §6.4: the host writes HostReachabilityDelta synchronously: the ticks since it last confirmed the neighbour
        // (at least 1) while its entry is reachable; 0 when stale (the target then stops asking for NceStaleTicks) and
        // the engine verifies: it asks the NIC for its NicReachabilityDelta, then probes, and invalidates a lost neighbour.
        uint hrd = 0;
        stack.Statistics.CountNeighborQuery();
        if (stack.TryGetNeighborByHandle(neighborBlock.NdisOffloadHandle, out var entry))
        {
            long now = stack.NowMicros;
            if (now < Volatile.Read(ref entry.ReachableUntilMicros))
            {
                long ticks = (now - Volatile.Read(ref entry.ConfirmedAtMicros)) * stack.Options.OffloadParameters.TicksPerSecond / 1_000_000;
                hrd = (uint)Math.Clamp(ticks, 1, uint.MaxValue);
            }
            else
            {
                stack.Post(new HostCommand { Kind = CommandKind.NeighborQueried, Object = entry });
            }
        }
        neighborBlock.NeighborCached = (neighborBlock.NeighborCached ?? default) with { HostReachabilityDelta = hrd };
    }

    public void IndicateStatus(NdisStatus adapterStatus) => stack.Post(new HostCommand { Kind = CommandKind.AdapterStatus, Value = (uint)adapterStatus });

    public void ReceiveFrame(ReadOnlySpan<byte> frame)
    {
        var buffer = stack.Frames.Rent(frame.Length);
        frame.CopyTo(buffer);
        stack.Post(new HostCommand { Kind = CommandKind.Frame, Buffer = buffer, Length = frame.Length });
    }
}
