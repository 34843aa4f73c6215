namespace OffloadEmu.Control.Tests;

/// <summary>A host for the control tests: records every completion and indication (thread-safe, they arrive on the
/// client's dispatch queue), keeps received bytes in order, and answers indications as scripted.</summary>
internal sealed class TestHost : IOffloadHost
{
    private readonly Lock _lock = new();

    public IOffloadTarget? Target { get; set; }
    public List<OffloadBlock> Initiated { get; } = [];
    public List<OffloadBlock> Terminated { get; } = [];
    public List<OffloadBlock> Updated { get; } = [];
    public List<OffloadBlock> Queried { get; } = [];
    public List<NetBufferList> SendsCompleted { get; } = [];
    public List<NetBufferList> ReceivesCompleted { get; } = [];
    public List<NetBufferList> DisconnectsCompleted { get; } = [];
    public List<(ulong Handle, TcpOffloadEventType Type, uint Info)> Events { get; } = [];
    public List<NdisStatus> Statuses { get; } = [];
    public List<byte[]> Frames { get; } = [];
    public List<(int Length, NdisStatus Answer)> Indications { get; } = [];
    public List<NetBufferList> Accepted { get; } = [];
    public List<string> Log { get; } = [];

    /// <summary>Every byte the host took, from posts and indications, in callback order.</summary>
    public MemoryStream Received { get; } = new();

    /// <summary>Answer to an indication: (status, bytes consumed). Default: take all.</summary>
    public Func<NetBufferList, (NdisStatus, int)> Answer { get; set; } = nbl => (NdisStatus.Success, (int)nbl.DataLength);

    /// <summary>Called (outside the lock) after each receive completion or refused indication: the test may post.</summary>
    public Action? AfterReceive { get; set; }

    public int OverlappingReceiveCallbacks { get; private set; }
    private int _inReceive;

    public T Locked<T>(Func<TestHost, T> read)
    {
        lock (_lock) return read(this);
    }

    public bool WaitFor(Func<TestHost, bool> condition, TimeSpan timeout)
    {
        var end = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < end)
        {
            if (Locked(condition)) return true;
            Thread.Sleep(5);
        }
        return Locked(condition);
    }

    public void InitiateOffloadComplete(OffloadBlock root) { lock (_lock) Initiated.Add(root); }
    public void TerminateOffloadComplete(OffloadBlock root) { lock (_lock) Terminated.Add(root); }
    public void UpdateOffloadComplete(OffloadBlock root) { lock (_lock) Updated.Add(root); }
    public void InvalidateOffloadComplete(OffloadBlock root) { }
    public void QueryOffloadStateComplete(OffloadBlock root) { lock (_lock) Queried.Add(root); }

    public void TcpOffloadSendComplete(NetBufferList chain)
    {
        NoteThread();
        lock (_lock)
            for (var n = chain; n is not null;)
            {
                var next = n.Next;
                SendsCompleted.Add(n);
                n = next;
            }
    }

    public void TcpOffloadReceiveComplete(NetBufferList chain)
    {
        if (Interlocked.Exchange(ref _inReceive, 1) != 0) OverlappingReceiveCallbacks++;
        lock (_lock)
        {
            for (var n = chain; n is not null;)
            {
                var next = n.Next;
                ReceivesCompleted.Add(n);
                // The bytes placed end at the data start, which the target advanced past them (spec §3).
                int count = n.TcpOffloadBytesTransferred;
                var bytes = new byte[count];
                if (count > 0)
                {
                    n[0].CopyBeforeDataStart(bytes);
                    Received.Write(bytes);
                }
                Log.Add($"C{count}@{Where(bytes)}");
                n = next;
            }
        }
        Volatile.Write(ref _inReceive, 0);
        AfterReceive?.Invoke();
    }

    public byte[]? Reference { get; set; }

    private string Where(byte[] placed)
    {
        if (Reference is null || placed.Length < 16) return "?";
        var probe = placed.AsSpan(0, 16);
        for (int j = 0; j + 16 <= Reference.Length; j++) if (Reference.AsSpan(j, 16).SequenceEqual(probe)) return j.ToString();
        return "none";
    }

    public void TcpOffloadDisconnectComplete(NetBufferList nbl) { lock (_lock) DisconnectsCompleted.Add(nbl); }
    public List<NetBufferList> ForwardsCompleted { get; } = [];

    public void TcpOffloadForwardComplete(NetBufferList chain)
    {
        lock (_lock)
            for (var n = chain; n is not null;)
            {
                var next = n.Next;
                ForwardsCompleted.Add(n);
                n = next;
            }
    }

    /// <summary>When set, an indication waits for it (outside the lock) before it is answered: with inline host callbacks
    /// this stalls the client's receive thread, so the server's socket fills.</summary>
    public ManualResetEventSlim? IndicationGate { get; set; }

    /// <summary>Names of the threads that ran indications and completions (inline host callbacks: the receive thread).</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, int> CallbackThreads { get; } = new();

    private void NoteThread() => CallbackThreads.AddOrUpdate(Thread.CurrentThread.Name ?? "pool", 1, static (_, n) => n + 1);

    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        NoteThread();
        IndicationGate?.Wait(TimeSpan.FromSeconds(60));
        if (Interlocked.Exchange(ref _inReceive, 1) != 0) OverlappingReceiveCallbacks++;
        NdisStatus answer;
        lock (_lock)
        {
            (answer, int consumed) = Answer(nbl);
            int length = (int)nbl.DataLength;
            int take = answer == NdisStatus.Success ? length : answer == NdisStatus.OffloadDataPartiallyAccepted ? consumed : 0;
            if (take > 0)
            {
                var bytes = new byte[take];
                nbl.CopyTo(0, bytes);
                Received.Write(bytes);
            }
            if (answer == NdisStatus.Success) Accepted.Add(nbl);
            Indications.Add((length, answer));
            var head = new byte[Math.Min(length, 16)];
            nbl.CopyTo(0, head);
            Log.Add($"I{length}/{take}@{Where(head)}");
            bytesConsumed = take;
        }
        Volatile.Write(ref _inReceive, 0);
        if (answer != NdisStatus.Success) AfterReceive?.Invoke();
        return answer;
    }

    /// <summary>Gives accepted indication NBLs back (ReceiveReturn), outside the indication call.</summary>
    public void ReturnAccepted()
    {
        List<NetBufferList> list;
        lock (_lock)
        {
            list = [.. Accepted];
            Accepted.Clear();
        }
        foreach (var nbl in list)
        {
            nbl.Next = null;
            Assert.Equal(NdisStatus.Success, Target!.TcpOffloadReceiveReturn(nbl));
        }
    }

    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info) { lock (_lock) Events.Add((ndisOffloadHandle, type, info)); }
    public List<(ulong Handle, NeighborEventCode Code, uint Nrd)> NeighborEvents { get; } = [];

    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
    {
        lock (_lock) NeighborEvents.Add((neighborBlock.NdisOffloadHandle, code, neighborBlock.NeighborDelegated?.NicReachabilityDelta ?? 0));
        neighborBlock.NeighborCached = (neighborBlock.NeighborCached ?? default) with { HostReachabilityDelta = 1 };
    }
    /// <summary>Called (outside the lock) at the end of each adapter-status callback.</summary>
    public Action? OnStatus { get; set; }

    public void IndicateStatus(NdisStatus adapterStatus)
    {
        try
        {
            IndicateStatusCore(adapterStatus);
        }
        finally
        {
            OnStatus?.Invoke();
        }
    }

    private void IndicateStatusCore(NdisStatus adapterStatus)
    {
        var capabilities = Target?.CurrentCapabilities; // what a host re-reads at OFFLOAD_RESUME (spec §6.6)
        lock (_lock)
        {
            Statuses.Add(adapterStatus);
            CapabilitiesAtStatus.Add(capabilities);
        }
    }

    /// <summary>The client's current capabilities as read in each adapter-status callback, beside <see cref="Statuses"/>.</summary>
    public List<TcpConnectionOffloadCapabilities?> CapabilitiesAtStatus { get; } = [];
    /// <summary>Called (outside the lock, on the thread of the callback) after each frame is recorded.</summary>
    public Action? AfterFrame { get; set; }

    public void ReceiveFrame(ReadOnlySpan<byte> frame)
    {
        var copy = frame.ToArray();
        lock (_lock) Frames.Add(copy);
        AfterFrame?.Invoke();
    }
}
