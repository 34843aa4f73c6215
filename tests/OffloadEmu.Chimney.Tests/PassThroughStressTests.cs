using OffloadEmu.Chimney.Tests.Fakes;

namespace OffloadEmu.Chimney.Tests;

/// <summary>Many interleaved sends, completions and events through two stacked layers (chimney spec §1, §5 FIFO completion).</summary>
public sealed class PassThroughStressTests
{
    private const int Objects = 100;
    private const int NblsPerObject = 100; // 10,000 sends in all
    private const int Producers = 4;

    [Fact]
    public async Task Ten_thousand_interleaved_sends_through_two_layers_complete_once_each_in_order_per_object()
    {
        var stack = new LayerStack(2);
        stack.Target.RecordIo = false;

        // One neighbour, one path, 100 connections.
        var neighbor = SampleTree.Make(OffloadBlockType.NeighborOffloadState, 0x10);
        var path = SampleTree.Make(OffloadBlockType.Ip4OffloadState, 0x11);
        neighbor.AddDependent(path);
        var tcp = new OffloadBlock[Objects];
        for (int i = 0; i < Objects; i++) path.AddDependent(tcp[i] = SampleTree.Make(OffloadBlockType.TcpOffloadState, 0x1000 + (ulong)i));
        stack.Top.InitiateOffload(neighbor);
        stack.Host.WaitFor("InitiateComplete", PassThroughStateOperationTests.Timeout);
        var contexts = tcp.Select(b => b.MiniportOffloadContext!.Context).ToArray();
        Assert.Equal(Objects, contexts.Distinct().Count());

        // Every NBL knows its object and its place in that object's stream.
        int total = Objects * NblsPerObject;
        var nbls = new NetBufferList[total];
        for (int id = 0; id < total; id++)
        {
            nbls[id] = new NetBufferList { RequestId = (ulong)id };
            nbls[id].AddBuffer().AddSegment(new byte[1 + id % 7]);
        }
        static int ObjectOf(int id) => id / NblsPerObject;
        static int SeqOf(int id) => id % NblsPerObject;

        var completions = new int[total];
        var lastSeq = new int[Objects];
        Array.Fill(lastSeq, -1);
        int outOfOrder = 0, badStatus = 0, completed = 0;
        using var allDone = new ManualResetEventSlim();
        stack.Host.OnSendComplete = chain =>
        {
            // Runs on the target queue's single worker at a time, so plain reads and writes of lastSeq are ordered.
            for (var nbl = chain; nbl is not null; nbl = nbl.Next)
            {
                int id = (int)nbl.RequestId;
                Interlocked.Increment(ref completions[id]);
                if (SeqOf(id) <= lastSeq[ObjectOf(id)]) Interlocked.Increment(ref outOfOrder);
                lastSeq[ObjectOf(id)] = SeqOf(id);
                if (nbl.Status != NdisStatus.Success || nbl.TcpOffloadBytesTransferred != (int)nbl.DataLength) Interlocked.Increment(ref badStatus);
                if (Interlocked.Increment(ref completed) == total) allDone.Set();
            }
        };

        // Producers own disjoint objects (the host serializes sends per connection, spec §5) and interleave them,
        // sending chains of 1-3 NBLs and asking the target for a backlog event now and then.
        var producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
        {
            var mine = Enumerable.Range(0, Objects).Where(o => o % Producers == p).ToArray();
            var next = new int[Objects];
            var random = new Random(p);
            int remaining = mine.Length * NblsPerObject;
            while (remaining > 0)
            {
                int o = mine[random.Next(mine.Length)];
                if (next[o] == NblsPerObject) continue;
                int count = Math.Min(1 + random.Next(3), NblsPerObject - next[o]);
                NetBufferList? head = null, tail = null;
                for (int k = 0; k < count; k++)
                {
                    var nbl = nbls[o * NblsPerObject + next[o]++];
                    nbl.Next = null;
                    NetBufferListChain.Append(ref head, ref tail, nbl);
                }
                remaining -= count;
                Assert.Equal(NdisStatus.Pending, stack.Top.TcpOffloadSend(contexts[o], head!));
                if (random.Next(10) == 0) stack.Target.IndicateEvent(contexts[o], TcpOffloadEventType.SendBacklogChange, (uint)next[o]);
            }
        })).ToArray();
        await Task.WhenAll(producers).WaitAsync(PassThroughStateOperationTests.Timeout);

        Assert.True(allDone.Wait(PassThroughStateOperationTests.Timeout), $"only {Volatile.Read(ref completed)} of {total} completions arrived");
        // Let anything still queued run, so a duplicate would be counted.
        SpinWait.SpinUntil(() => stack.Target.Queue.PendingCount == 0, PassThroughStateOperationTests.Timeout);
        Thread.Sleep(50);

        Assert.Equal(total, Volatile.Read(ref completed));
        Assert.All(completions, c => Assert.Equal(1, c));
        Assert.Equal(0, outOfOrder);
        Assert.Equal(0, badStatus);
        Assert.All(lastSeq, s => Assert.Equal(NblsPerObject - 1, s));
        Assert.All(stack.Layers, l => Assert.Equal(0, l.SelfCompletedRequestCount));

        // Events came up with the host's own handle of the right object, in order per object.
        var hostHandleOf = tcp.ToDictionary(b => b.NdisOffloadHandle, b => Array.IndexOf(tcp, b));
        var lastInfo = new uint[Objects];
        foreach (var e in stack.Host.Calls.Where(c => c.Name == "TcpEvent"))
        {
            Assert.True(hostHandleOf.TryGetValue(e.Handle, out int o), $"event with foreign handle 0x{e.Handle:x}");
            Assert.True(e.Info > lastInfo[o]);
            lastInfo[o] = e.Info;
        }
        Assert.All(stack.Layers, l => Assert.Equal(0, l.UnroutedIndicationCount));
    }
}
