using OffloadEmu.TestSupport;
using OffloadEmu.Link;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Target.Tests;

/// <summary>Issue 7 performance goal 5: an idle offloaded connection costs the target at most 2 KiB excluding buffers,
/// and holds no data buffer at all (its receive storage is taken from the pool only while bytes are buffered).</summary>
[Collection(MemoryMeasurements.Name)]
public class FootprintTests
{
    private const int Count = 4000;

    [Fact]
    public void IdleOffloadedConnection_CostsTheTargetAtMostTwoKiB_AndHoldsNoReceiveBuffer()
    {
        // The state of one established connection, offloaded Count times with different local ports.
        TcpConstState tcpConst;
        TcpCachedState tcpCached;
        TcpDelegatedState tcpDelegated;
        using (var lab = new TargetLab())
        {
            var established = lab.Establish();
            tcpConst = established.ExportConstState();
            tcpCached = established.ExportCachedState();
            tcpDelegated = established.ExportDelegatedState(lab.Now);
        }
        var pool = new ReceiveBufferPool();
        MemoryLink.CreatePair(out var nic, out var peer);
        var queue = CompletionQueue.CreateManual();
        var options = new OffloadTargetOptions
        {
            Capabilities = new OffloadTargetOptions().Capabilities with { TcpConnectionOffloadCapacity = Count + 10 },
            ReceiveBufferPool = pool,
        };
        using var target = new OffloadTarget(nic, options, queue);
        var host = new CountingHost();
        target.Bind(host);
        var now = Instant.FromSeconds(1000);

        // Warm-up: the neighbour, the path and one connection (the engine's own structures are made once).
        var neighborSlot = new OffloadContextSlot();
        var pathSlot = new OffloadContextSlot();
        Initiate(target, queue, host, Tree(neighborSlot, pathSlot, peer.MacAddress, tcpConst, tcpCached, tcpDelegated, 9000, 1, newObjects: true), now);

        long before = MeasureHeap();
        var weak = OffloadMany(target, queue, host, neighborSlot, pathSlot, peer.MacAddress, tcpConst, tcpCached, tcpDelegated, now);
        long after = MeasureHeap();
        Assert.False(weak.IsAlive); // else the figure would count the host's blocks
        GC.KeepAlive(target);

        Assert.Equal(Count + 1, target.ConnectionCount);
        Assert.Same(pool, target.ReceiveBufferPool);
        Assert.Equal(0, pool.OutstandingBuffers);
        Assert.Equal(0, pool.Takes);
        double perConnection = (double)(after - before) / Count;
        Console.WriteLine($"idle offloaded connection in the target: {perConnection:F0} bytes (managed heap after a full GC), no receive buffer");
        Assert.True(perConnection <= 2048, $"{perConnection:F0} bytes per idle offloaded connection");
        nic.Dispose();
        peer.Dispose();
    }

    // In a method of its own so that no local of the test keeps the host's blocks reachable (they are the host's memory).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference OffloadMany(OffloadTarget target, CompletionQueue queue, CountingHost host, OffloadContextSlot neighborSlot,
        OffloadContextSlot pathSlot, MacAddress peerMac, TcpConstState tcpConst, TcpCachedState tcpCached, TcpDelegatedState tcpDelegated, Instant now)
    {
        var root = Tree(neighborSlot, pathSlot, peerMac, tcpConst, tcpCached, tcpDelegated, 10000, Count, newObjects: false);
        Initiate(target, queue, host, root, now);
        int succeeded = 0;
        for (var b = root.DependentBlockList!.DependentBlockList; b is not null; b = b.NextBlock)
            if (b.Status == NdisStatus.Success) succeeded++;
        Assert.Equal(Count, succeeded);
        return new WeakReference(root);
    }

    private static long MeasureHeap()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }

    private static void Initiate(OffloadTarget target, CompletionQueue queue, CountingHost host, OffloadBlock root, Instant now)
    {
        int before = host.Initiated;
        Assert.Equal(NdisStatus.Pending, target.InitiateOffload(root));
        for (int i = 0; i < 1000 && host.Initiated == before; i++)
        {
            target.Poll(now);
            queue.RunPending();
        }
        Assert.Equal(before + 1, host.Initiated);
    }

    private static OffloadBlock Tree(OffloadContextSlot neighborSlot, OffloadContextSlot pathSlot, MacAddress peerMac, TcpConstState tcpConst,
        TcpCachedState tcpCached, TcpDelegatedState tcpDelegated, int firstPort, int count, bool newObjects)
    {
        var neighbor = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { MiniportOffloadContext = neighborSlot, NdisOffloadHandle = 1 };
        var path = new OffloadBlock(OffloadBlockType.Ip4OffloadState) { MiniportOffloadContext = pathSlot, NdisOffloadHandle = 2 };
        if (newObjects)
        {
            neighbor.NeighborConst = new NeighborConstState();
            neighbor.NeighborCached = new NeighborCachedState { DlDestinationAddress = peerMac };
            neighbor.NeighborDelegated = new NeighborDelegatedState();
            path.PathConst = new PathConstState { SourceAddress = TargetLab.HostIp, DestinationAddress = TargetLab.PeerIp };
            path.PathCached = new PathCachedState { PathMtu = 1500 };
            path.PathDelegated = new PathDelegatedState();
        }
        neighbor.AddDependent(path);
        for (int i = 0; i < count; i++)
        {
            path.AddDependent(new OffloadBlock(OffloadBlockType.TcpOffloadState)
            {
                MiniportOffloadContext = new OffloadContextSlot(),
                NdisOffloadHandle = (ulong)(0x1000 + firstPort + i),
                TcpConst = tcpConst with { LocalPort = (ushort)(firstPort + i) },
                TcpCached = tcpCached,
                TcpDelegated = tcpDelegated with { },
            });
        }
        return neighbor;
    }

    private sealed class CountingHost : NullOffloadHost
    {
        public int Initiated;
        public override void InitiateOffloadComplete(OffloadBlock root) => Initiated++;
    }
}
