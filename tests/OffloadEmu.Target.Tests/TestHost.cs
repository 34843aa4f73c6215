namespace OffloadEmu.Target.Tests;

/// <summary>A host for target tests: records every completion and indication in order, answers receive indications
/// as scripted (default: accept everything, keep the bytes, return the NBL at the next <see cref="ReturnAccepted"/>).</summary>
internal sealed class TestHost : IOffloadHost
{
    public IOffloadTarget? Target { get; set; }

    public List<OffloadBlock> Initiated { get; } = [];
    public List<OffloadBlock> Terminated { get; } = [];
    public List<OffloadBlock> Updated { get; } = [];
    public List<OffloadBlock> Invalidated { get; } = [];
    public List<OffloadBlock> Queried { get; } = [];
    public List<NetBufferList> SendsCompleted { get; } = [];
    public List<NetBufferList> ReceivesCompleted { get; } = [];
    public List<NetBufferList> DisconnectsCompleted { get; } = [];
    public List<NetBufferList> ForwardsCompleted { get; } = [];
    public List<(ulong Handle, TcpOffloadEventType Type, uint Info)> Events { get; } = [];
    public List<(OffloadBlock Block, NeighborEventCode Code)> NeighborEvents { get; } = [];
    public List<NdisStatus> Statuses { get; } = [];
    public List<byte[]> Frames { get; } = [];
    public List<(int Length, NdisStatus Answer)> Indications { get; } = [];
    public MemoryStream IndicatedData { get; } = new();
    /// <summary>Every received byte the host took, indications and completed posts, in the order the callbacks came.</summary>
    public MemoryStream ReceivedInOrder { get; } = new();

    /// <summary>Fill <see cref="ReceivedInOrder"/> (off by default: long runs would hold every byte).</summary>
    public bool RecordInOrder { get; set; }
    /// <summary>The indicated bytes taken, per connection handle (several connections at once).</summary>
    public Dictionary<ulong, MemoryStream> IndicatedByHandle { get; } = [];

    /// <summary>Fill <see cref="IndicatedByHandle"/> (off by default: long runs would hold every byte twice).</summary>
    public bool RecordByHandle { get; set; }
    public List<NetBufferList> Accepted { get; } = [];

    /// <summary>Answer to an indication: (status, bytes consumed). Default: take all.</summary>
    public Func<NetBufferList, (NdisStatus, int)> Answer { get; set; } = nbl => (NdisStatus.Success, (int)nbl.DataLength);

    /// <summary>Host reachability delta written into neighbour queries.</summary>
    public uint HostReachabilityDelta { get; set; }

    /// <summary>Set while a receive completion or indication runs (serialization check, spec §3).</summary>
    private bool _inReceiveCallback;
    public int OverlappingReceiveCallbacks { get; private set; }

    public void InitiateOffloadComplete(OffloadBlock root) => Initiated.Add(root);
    public void TerminateOffloadComplete(OffloadBlock root) => Terminated.Add(root);
    public void UpdateOffloadComplete(OffloadBlock root) => Updated.Add(root);
    public void InvalidateOffloadComplete(OffloadBlock root) => Invalidated.Add(root);
    public void QueryOffloadStateComplete(OffloadBlock root) => Queried.Add(root);

    public void TcpOffloadSendComplete(NetBufferList chain)
    {
        for (var n = chain; n is not null;)
        {
            var next = n.Next;
            SendsCompleted.Add(n);
            n = next;
        }
    }

    public void TcpOffloadReceiveComplete(NetBufferList chain)
    {
        EnterReceive();
        for (var n = chain; n is not null;)
        {
            var next = n.Next;
            ReceivesCompleted.Add(n);
            if (RecordInOrder && n.Status == NdisStatus.Success) ReceivedInOrder.Write(Nbls.Received(n));
            n = next;
        }
        _inReceiveCallback = false;
    }

    public void TcpOffloadDisconnectComplete(NetBufferList nbl) => DisconnectsCompleted.Add(nbl);

    public void TcpOffloadForwardComplete(NetBufferList chain)
    {
        for (var n = chain; n is not null;)
        {
            var next = n.Next;
            ForwardsCompleted.Add(n);
            n = next;
        }
    }

    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        EnterReceive();
        Assert.Equal(NdisStatus.Success, status);
        var (answer, consumed) = Answer(nbl);
        int length = (int)nbl.DataLength;
        int take = answer == NdisStatus.Success ? length : answer == NdisStatus.OffloadDataPartiallyAccepted ? consumed : 0;
        if (take > 0)
        {
            var bytes = new byte[take];
            nbl.CopyTo(0, bytes);
            IndicatedData.Write(bytes);
            if (RecordInOrder) ReceivedInOrder.Write(bytes);
            if (RecordByHandle)
            {
                if (!IndicatedByHandle.TryGetValue(ndisOffloadHandle, out var stream)) IndicatedByHandle[ndisOffloadHandle] = stream = new MemoryStream();
                stream.Write(bytes);
            }
        }
        if (answer == NdisStatus.Success) Accepted.Add(nbl);
        Indications.Add((length, answer));
        bytesConsumed = answer == NdisStatus.OffloadDataPartiallyAccepted ? consumed : answer == NdisStatus.Success ? length : 0;
        _inReceiveCallback = false;
        return answer;
    }

    private void EnterReceive()
    {
        if (_inReceiveCallback) OverlappingReceiveCallbacks++;
        _inReceiveCallback = true;
    }

    /// <summary>Gives every accepted indication NBL back (ReceiveReturn).</summary>
    public void ReturnAccepted()
    {
        foreach (var nbl in Accepted)
        {
            nbl.Next = null;
            Assert.Equal(NdisStatus.Success, Target!.TcpOffloadReceiveReturn(nbl));
        }
        Accepted.Clear();
    }

    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info)
    {
        if (type == TcpOffloadEventType.Disconnect && ReceivesCompletedAtDisconnect < 0) ReceivesCompletedAtDisconnect = ReceivesCompleted.Count;
        Events.Add((ndisOffloadHandle, type, info));
    }

    /// <summary>Receive posts completed when the first Disconnect event arrived (-1: none yet).</summary>
    public int ReceivesCompletedAtDisconnect { get; private set; } = -1;

    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
    {
        NeighborEvents.Add((neighborBlock, code));
        neighborBlock.NeighborCached = (neighborBlock.NeighborCached ?? default) with { HostReachabilityDelta = HostReachabilityDelta };
    }

    public void IndicateStatus(NdisStatus adapterStatus)
    {
        Statuses.Add(adapterStatus);
        CapabilitiesAtStatus.Add(Target?.CurrentCapabilities); // what a host reads when it sees the status (spec §6.6)
    }

    /// <summary>The target's current capabilities as read in each adapter-status callback, beside <see cref="Statuses"/>.</summary>
    public List<TcpConnectionOffloadCapabilities?> CapabilitiesAtStatus { get; } = [];

    public void ReceiveFrame(ReadOnlySpan<byte> frame) => Frames.Add(frame.ToArray());

    public bool HasEvent(TcpOffloadEventType type) => Events.Exists(e => e.Type == type);
}
