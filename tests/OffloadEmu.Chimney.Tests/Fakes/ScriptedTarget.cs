using System.Collections.Concurrent;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Chimney.Tests.Fakes;

/// <summary>
/// A test target: records every request with the tree as it saw it, completes through a <see cref="CompletionQueue"/>
/// (never inline), and can indicate events, receives, neighbour queries and adapter status on demand.
/// </summary>
public sealed class ScriptedTarget : IOffloadTarget
{
    private readonly List<TargetCall> _calls = [];
    private readonly ConcurrentDictionary<ulong, ulong> _handleByContext = new();
    private readonly List<Action> _held = [];
    private IOffloadHost? _host;
    private long _lastContext = 0x7000_0000;

    public ScriptedTarget(CompletionQueue? queue = null) => Queue = queue ?? new CompletionQueue();

    public CompletionQueue Queue { get; }

    public IOffloadHost Host => _host ?? throw new InvalidOperationException("not bound");

    /// <summary>False: requests are held until <see cref="CompleteHeld"/>.</summary>
    public bool AutoComplete { get; set; } = true;

    /// <summary>False: I/O requests are not recorded (stress runs).</summary>
    public bool RecordIo { get; set; } = true;

    /// <summary>Outcome of each new-offload block at initiate (default SUCCESS).</summary>
    public Func<OffloadBlock, NdisStatus> InitiateScript { get; set; } = _ => NdisStatus.Success;

    public NdisStatus LastParametersStatus { get; set; } = NdisStatus.Success;

    /// <summary>When set, every state and I/O request is recorded and answered with it instead of PENDING, and never completed (a broken target).</summary>
    public NdisStatus? RefuseWith { get; set; }

    /// <summary>What <see cref="TcpOffloadReceiveReturn"/> answers (SUCCESS unless a test breaks the target).</summary>
    public NdisStatus ReceiveReturnStatus { get; set; } = NdisStatus.Success;

    public OffloadParameters? Parameters { get; private set; }

    public TcpConnectionOffloadCapabilities CurrentCapabilities { get; set; } = new() { TcpConnectionOffloadCapacity = 17 };

    public TcpConnectionOffloadCapabilities HardwareCapabilities { get; set; } = new() { TcpConnectionOffloadCapacity = 99, SupportSack = true };

    public IReadOnlyList<TargetCall> Calls
    {
        get
        {
            lock (_calls) return _calls.ToList();
        }
    }

    /// <summary>The handle the target was given for the object it gave <paramref name="context"/>.</summary>
    public ulong HandleOf(ulong context) => _handleByContext[context];

    public IEnumerable<ulong> HandlesSeen => _handleByContext.Values;

    public void Bind(IOffloadHost host)
    {
        if (Interlocked.CompareExchange(ref _host, host, null) is not null) throw new InvalidOperationException("bound twice");
    }

    public MacAddress MacAddress { get; set; } = MacAddress.Parse("02:00:5e:00:00:01");

    public int Mtu { get; set; } = 1500;

    /// <summary>Frames the host sent on the non-offload path.</summary>
    public ConcurrentQueue<byte[]> SentFrames { get; } = new();

    public NdisStatus SendFrame(ReadOnlySpan<byte> frame)
    {
        SentFrames.Enqueue(frame.ToArray());
        return NdisStatus.Success;
    }

    public TcpOffloadStatisticsSnapshot QueryTcpStatistics(bool ipv6) => new(ipv6 ? 6UL : 4UL, 0, 0, 0, 0, 0, 0);

    public IpOffloadStatisticsSnapshot QueryIpStatistics(bool ipv6) => new(ipv6 ? 6UL : 4UL, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    public int StatisticsResets { get; private set; }

    public void ResetStatistics(bool ipv6) => StatisticsResets++;

    public NdisStatus SetParameters(OffloadParameters parameters)
    {
        Parameters = parameters;
        return LastParametersStatus;
    }

    /// <summary>When set, <see cref="InitiateOffload"/> throws it instead of taking the tree (a broken target).</summary>
    public Exception? InitiateThrows { get; set; }

    public NdisStatus InitiateOffload(OffloadBlock root)
    {
        if (InitiateThrows is { } broken) throw broken;
        RecordTree("Initiate", root);
        if (RefuseWith is { } refusedTree) return refusedTree;
        Run(() =>
        {
            OffloadTree.ApplyInitiate(root, block =>
            {
                var status = InitiateScript(block);
                if (status == NdisStatus.Success)
                {
                    ulong context = (ulong)Interlocked.Increment(ref _lastContext);
                    _handleByContext[context] = block.NdisOffloadHandle;
                    block.MiniportOffloadContext!.Context = context;
                }
                return status;
            });
            Queue.PostInitiateOffloadComplete(Host, root);
        });
        return NdisStatus.Pending;
    }

    public NdisStatus TerminateOffload(OffloadBlock root)
    {
        RecordTree("Terminate", root);
        if (RefuseWith is { } refusedTree) return refusedTree;
        Run(() =>
        {
            foreach (var visit in OffloadTree.Traverse(root))
            {
                visit.Block.Status = NdisStatus.Success;
                if (visit.Block.MiniportOffloadContext is { HasContext: true } slot) _handleByContext.TryRemove(slot.Context, out _);
            }
            Queue.PostTerminateOffloadComplete(Host, root);
        });
        return NdisStatus.Pending;
    }

    public NdisStatus UpdateOffload(OffloadBlock root)
    {
        RecordTree("Update", root);
        if (RefuseWith is { } refusedTree) return refusedTree;
        Run(() =>
        {
            OffloadTree.SetStatus(root, NdisStatus.Success);
            Queue.PostUpdateOffloadComplete(Host, root);
        });
        return NdisStatus.Pending;
    }

    public NdisStatus InvalidateOffload(OffloadBlock root)
    {
        RecordTree("Invalidate", root);
        if (RefuseWith is { } refusedTree) return refusedTree;
        Run(() =>
        {
            OffloadTree.SetStatus(root, NdisStatus.Success);
            Queue.PostInvalidateOffloadComplete(Host, root);
        });
        return NdisStatus.Pending;
    }

    public NdisStatus QueryOffloadState(OffloadBlock root)
    {
        RecordTree("Query", root);
        if (RefuseWith is { } refusedTree) return refusedTree;
        Run(() =>
        {
            OffloadTree.SetStatus(root, NdisStatus.Success);
            Queue.PostQueryOffloadStateComplete(Host, root);
        });
        return NdisStatus.Pending;
    }

    public NdisStatus TcpOffloadSend(ulong context, NetBufferList chain)
    {
        RecordIoCall("Send", context, chain, 0);
        if (RefuseWith is { } refused) return refused;
        if (AutoComplete)
        {
            // Fast path without a closure: completion posted now, so per-connection order is call order.
            SucceedChain(chain);
            Queue.PostTcpOffloadSendComplete(Host, chain);
        }
        else
        {
            HoldSend(chain);
        }
        return NdisStatus.Pending;
    }

    // Separate method: a lambda in TcpOffloadSend would allocate its closure on every call, even on the fast path.
    private void HoldSend(NetBufferList chain) => Hold(() =>
    {
        SucceedChain(chain);
        Queue.PostTcpOffloadSendComplete(Host, chain);
    });

    public NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain)
    {
        RecordIoCall("Receive", context, chain, 0);
        if (RefuseWith is { } refused) return refused;
        if (AutoComplete)
        {
            // Fast path without a closure, as for sends.
            FillChain(chain);
            Queue.PostTcpOffloadReceiveComplete(Host, chain);
        }
        else
        {
            HoldReceive(chain);
        }
        return NdisStatus.Pending;
    }

    private void HoldReceive(NetBufferList chain) => Hold(() =>
    {
        FillChain(chain);
        Queue.PostTcpOffloadReceiveComplete(Host, chain);
    });

    public NdisStatus TcpOffloadDisconnect(ulong context, NetBufferList nbl, TcpDisconnectFlags flags)
    {
        RecordIoCall("Disconnect", context, nbl, flags);
        if (RefuseWith is { } refused) return refused;
        Run(() =>
        {
            SucceedChain(nbl);
            Queue.PostTcpOffloadDisconnectComplete(Host, nbl);
        });
        return NdisStatus.Pending;
    }

    public NdisStatus TcpOffloadForward(ulong context, NetBufferList chain)
    {
        RecordIoCall("Forward", context, chain, 0);
        if (RefuseWith is { } refused) return refused;
        Run(() =>
        {
            for (var nbl = chain; nbl is not null; nbl = nbl.Next) nbl.Status = NdisStatus.Success;
            Queue.PostTcpOffloadForwardComplete(Host, chain);
        });
        return NdisStatus.Pending;
    }

    public NdisStatus TcpOffloadReceiveReturn(NetBufferList chain)
    {
        RecordIoCall("ReceiveReturn", 0, chain, 0);
        return ReceiveReturnStatus;
    }

    /// <summary>Runs the held requests' completions (in arrival order).</summary>
    public void CompleteHeld()
    {
        Action[] held;
        lock (_held)
        {
            held = [.. _held];
            _held.Clear();
        }
        foreach (var a in held) a();
    }

    public void IndicateEvent(ulong context, TcpOffloadEventType type, uint info)
        => Queue.PostTcpOffloadEvent(Host, HandleOf(context), type, info);

    public void IndicateStatus(NdisStatus status) => Queue.PostIndicateStatus(Host, status);

    /// <summary>Indicates <paramref name="nbl"/> from the queue's worker and hands back the host's synchronous answer.</summary>
    public Task<(NdisStatus Answer, int BytesConsumed)> IndicateReceiveAsync(ulong context, NetBufferList nbl)
    {
        var done = new TaskCompletionSource<(NdisStatus, int)>(TaskCreationOptions.RunContinuationsAsynchronously);
        ulong handle = HandleOf(context);
        Queue.Schedule(_ =>
        {
            var answer = Host.TcpOffloadReceiveIndicate(handle, nbl, NdisStatus.Success, out int consumed);
            done.SetResult((answer, consumed));
        }, null);
        return done.Task;
    }

    /// <summary>Indicates a reachability query for the neighbour of <paramref name="context"/>; returns the block after the host answered.</summary>
    public Task<OffloadBlock> IndicateNeighborQueryAsync(ulong context, uint nicReachabilityDelta)
    {
        var block = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            NdisOffloadHandle = HandleOf(context),
            Status = NdisStatus.Success,
            NeighborConst = new NeighborConstState(),
            NeighborCached = new NeighborCachedState { HostReachabilityDelta = 0 },
            NeighborDelegated = new NeighborDelegatedState { NicReachabilityDelta = nicReachabilityDelta },
        };
        var done = new TaskCompletionSource<OffloadBlock>(TaskCreationOptions.RunContinuationsAsynchronously);
        Queue.Schedule(_ =>
        {
            Host.NeighborOffloadEvent(block, NeighborEventCode.Query);
            done.SetResult(block);
        }, null);
        return done.Task;
    }

    private static void SucceedChain(NetBufferList chain)
    {
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            nbl.Status = NdisStatus.Success;
            nbl.TcpOffloadBytesTransferred = (int)nbl.DataLength;
        }
    }

    // Receive posts: filled to the end, each NB's data start advanced past the bytes placed (spec §3).
    private static void FillChain(NetBufferList chain)
    {
        for (var nbl = chain; nbl is not null; nbl = nbl.Next)
        {
            nbl.Status = NdisStatus.Success;
            nbl.TcpOffloadBytesTransferred = (int)nbl.DataLength;
            CheckerRig.Advance(nbl, nbl.TcpOffloadBytesTransferred);
        }
    }

    private void Run(Action complete)
    {
        if (AutoComplete) complete();
        else Hold(complete);
    }

    private void Hold(Action complete)
    {
        lock (_held) _held.Add(complete);
    }

    private void RecordTree(string name, OffloadBlock root)
    {
        lock (_calls) _calls.Add(new TargetCall(name, root, BlockView.Capture(root), 0, null, 0, Environment.CurrentManagedThreadId));
    }

    private void RecordIoCall(string name, ulong context, NetBufferList nbl, TcpDisconnectFlags flags)
    {
        if (!RecordIo) return;
        lock (_calls) _calls.Add(new TargetCall(name, null, null, context, nbl, flags, Environment.CurrentManagedThreadId));
    }
}
