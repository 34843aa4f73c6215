using System.Collections.Concurrent;
namespace OffloadEmu.Chimney.Tests.Fakes;

/// <summary>A host that records every completion and indication, answers receive indications and reachability queries as scripted.</summary>
public sealed class RecordingHost : IOffloadHost
{
    private readonly List<HostCall> _calls = [];

    /// <summary>Answer to a receive indication: (status, bytes consumed); default takes everything.</summary>
    public Func<ulong, NetBufferList, (NdisStatus Status, int BytesConsumed)> IndicateAnswer { get; set; }
        = (_, nbl) => (NdisStatus.Success, (int)nbl.DataLength);

    /// <summary>HostReachabilityDelta written back on a neighbour query.</summary>
    public uint ReachabilityAnswer { get; set; } = 1234;

    /// <summary>Optional fast path for stress tests: called for each send completion instead of recording it.</summary>
    public Action<NetBufferList>? OnSendComplete { get; set; }

    public IReadOnlyList<HostCall> Calls
    {
        get
        {
            lock (_calls) return _calls.ToList();
        }
    }

    public bool WaitForCalls(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_calls)
        {
            while (_calls.Count < count)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(_calls, left)) return _calls.Count >= count;
            }
            return true;
        }
    }

    public HostCall WaitFor(string name, TimeSpan timeout, int occurrence = 1)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_calls)
        {
            while (true)
            {
                var found = _calls.Where(c => c.Name == name).Skip(occurrence - 1).FirstOrDefault();
                if (found is not null) return found;
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(_calls, left))
                    throw new TimeoutException($"No {name} #{occurrence} within {timeout}; saw {string.Join(", ", _calls.Select(c => c.Name))}.");
            }
        }
    }

    public void InitiateOffloadComplete(OffloadBlock root) => RecordTree("InitiateComplete", root);

    public void TerminateOffloadComplete(OffloadBlock root) => RecordTree("TerminateComplete", root);

    public void UpdateOffloadComplete(OffloadBlock root) => RecordTree("UpdateComplete", root);

    public void InvalidateOffloadComplete(OffloadBlock root) => RecordTree("InvalidateComplete", root);

    public void QueryOffloadStateComplete(OffloadBlock root) => RecordTree("QueryComplete", root);

    public void TcpOffloadSendComplete(NetBufferList chain)
    {
        if (OnSendComplete is { } fast)
        {
            fast(chain);
            return;
        }
        RecordNbl("SendComplete", chain);
    }

    public void TcpOffloadReceiveComplete(NetBufferList chain) => RecordNbl("ReceiveComplete", chain);

    public void TcpOffloadDisconnectComplete(NetBufferList nbl) => RecordNbl("DisconnectComplete", nbl);

    public void TcpOffloadForwardComplete(NetBufferList chain) => RecordNbl("ForwardComplete", chain);

    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        var (answer, consumed) = IndicateAnswer(ndisOffloadHandle, nbl);
        bytesConsumed = consumed;
        Record(new HostCall("ReceiveIndicate", null, nbl, ndisOffloadHandle, 0, 0, status, 0, Environment.CurrentManagedThreadId, null));
        return answer;
    }

    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info)
        => Record(new HostCall("TcpEvent", null, null, ndisOffloadHandle, type, info, 0, 0, Environment.CurrentManagedThreadId, null));

    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code)
    {
        if (code == NeighborEventCode.Query && neighborBlock.NeighborCached is { } cached)
            neighborBlock.NeighborCached = cached with { HostReachabilityDelta = ReachabilityAnswer };
        Record(new HostCall("NeighborEvent", neighborBlock, null, neighborBlock.NdisOffloadHandle, 0, 0, 0, code, Environment.CurrentManagedThreadId, null));
    }

    public void IndicateStatus(NdisStatus adapterStatus)
        => Record(new HostCall("Status", null, null, 0, 0, 0, adapterStatus, 0, Environment.CurrentManagedThreadId, null));

    private void RecordTree(string name, OffloadBlock root)
        => Record(new HostCall(name, root, null, 0, 0, 0, 0, 0, Environment.CurrentManagedThreadId, BlockView.Capture(root)));

    private void RecordNbl(string name, NetBufferList chain)
        => Record(new HostCall(name, null, chain, 0, 0, 0, chain.Status, 0, Environment.CurrentManagedThreadId, null));

    private void Record(HostCall call)
    {
        lock (_calls)
        {
            _calls.Add(call);
            Monitor.PulseAll(_calls);
        }
    }

    /// <summary>Frames received on the non-offload path.</summary>
    public ConcurrentQueue<byte[]> ReceivedFrames { get; } = new();

    public void ReceiveFrame(ReadOnlySpan<byte> frame) => ReceivedFrames.Enqueue(frame.ToArray());
}
