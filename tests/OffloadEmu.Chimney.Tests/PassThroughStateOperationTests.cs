using OffloadEmu.Chimney.State;
using OffloadEmu.Chimney.Tests.Fakes;

namespace OffloadEmu.Chimney.Tests;

/// <summary>State trees through 1 and 2 pass-through layers (chimney spec §1, intermediate drivers; §2 statuses).</summary>
public sealed class PassThroughStateOperationTests
{
    internal static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Offloads the sample tree with every block succeeding; returns it with the contexts written.</summary>
    internal static SampleTree Offload(LayerStack stack, ulong handleBase = 0x100)
    {
        var tree = new SampleTree(handleBase);
        int before = stack.Host.Calls.Count(c => c.Name == "InitiateComplete");
        Assert.Equal(NdisStatus.Pending, stack.Top.InitiateOffload(tree.Root));
        stack.Host.WaitFor("InitiateComplete", Timeout, before + 1);
        Assert.All(tree.All, b => Assert.True(b.MiniportOffloadContext!.HasContext));
        return tree;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Initiate_goes_down_with_layer_handles_and_completes_up_restored(int depth)
    {
        var stack = new LayerStack(depth);
        var tree = new SampleTree();
        stack.Target.InitiateScript = b => b == tree.T2 ? NdisStatus.Resources : b == tree.P2 ? NdisStatus.Failure : NdisStatus.Success;
        var hostView = BlockView.Capture(tree.Root);

        Assert.Equal(NdisStatus.Pending, stack.Top.InitiateOffload(tree.Root));
        var done = stack.Host.WaitFor("InitiateComplete", Timeout);

        // The host gets its own root back with its three fields exactly as it set them.
        Assert.Same(tree.Root, done.Root);
        var after = done.Tree!;
        Assert.Equal(hostView.Count, after.Count);
        for (int i = 0; i < after.Count; i++)
        {
            Assert.Same(hostView[i].Block, after[i].Block);
            Assert.Equal(hostView[i].Handle, after[i].Handle);
            Assert.Equal(SampleTree.HostSourceHandle, after[i].SourceHandle);
            Assert.Same(hostView[i].ImReserved, after[i].ImReserved);
        }
        // Spec §2 example vector, written by the target, untouched by the layers.
        Assert.Equal(
            [NdisStatus.OffloadPartialSuccess, NdisStatus.OffloadPartialSuccess, NdisStatus.Success, NdisStatus.Resources, NdisStatus.Failure, NdisStatus.Failure],
            after.Select(v => v.Status).ToArray());
        Assert.True(tree.N1.MiniportOffloadContext!.HasContext);
        Assert.True(tree.P1.MiniportOffloadContext!.HasContext);
        Assert.True(tree.T1.MiniportOffloadContext!.HasContext);
        Assert.False(tree.T2.MiniportOffloadContext!.HasContext);
        Assert.False(tree.P2.MiniportOffloadContext!.HasContext);
        Assert.False(tree.T3.MiniportOffloadContext!.HasContext);

        // The target saw the same blocks but only the bottom layer's handles, source handle and call entry.
        var seen = stack.Target.Calls.Single(c => c.Name == "Initiate");
        Assert.Same(tree.Root, seen.Root);
        var hostHandles = hostView.Select(v => v.Handle).ToHashSet();
        Assert.All(seen.Tree!, v =>
        {
            Assert.DoesNotContain(v.Handle, hostHandles);
            Assert.NotEqual(0UL, v.Handle);
            Assert.Equal(stack.Bottom.SourceHandle, v.SourceHandle);
            var call = Assert.IsType<PassThroughCallEntry>(v.ImReserved);
            Assert.Same(stack.Bottom, call.Owner);
        });
        Assert.Equal(seen.Tree!.Count, seen.Tree.Select(v => v.Handle).Distinct().Count());
        foreach (var layer in stack.Layers.Take(stack.Layers.Count - 1))
            Assert.DoesNotContain(seen.Tree, v => v.SourceHandle == layer.SourceHandle);

        // Failed blocks leave no offload entry behind (N1, P1, T1 remain).
        Assert.All(stack.Layers, l => Assert.Equal(3, l.ObjectCount));
        Assert.All(stack.Layers, l => Assert.Equal(3, l.ContextCount));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_placeholder_goes_down_with_no_handle_and_comes_back_with_its_own(int depth)
    {
        var stack = new LayerStack(depth);
        var placeholder = new OffloadBlock(OffloadBlockType.NeighborOffloadState) { NdisOffloadHandle = 0x55, SourceHandle = 9, ImReserved = "mine" };
        var path = SampleTree.Make(OffloadBlockType.Ip4OffloadState, 0x56);
        placeholder.AddDependent(path);

        Assert.Equal(NdisStatus.Pending, stack.Top.InitiateOffload(placeholder));
        var done = stack.Host.WaitFor("InitiateComplete", Timeout);

        var seen = stack.Target.Calls.Single(c => c.Name == "Initiate").Tree!;
        Assert.Equal(0UL, seen[0].Handle);
        Assert.NotEqual(0x56UL, seen[1].Handle);
        Assert.Equal((0x55UL, 9UL, "mine"), (placeholder.NdisOffloadHandle, placeholder.SourceHandle, placeholder.ImReserved as string));
        Assert.Equal([NdisStatus.Success, NdisStatus.Success], done.Tree!.Select(v => v.Status).ToArray());
    }

    public static TheoryData<int, string> DepthsAndOperations()
    {
        var data = new TheoryData<int, string>();
        foreach (int depth in new[] { 1, 2 })
            foreach (string op in new[] { "Terminate", "Update", "Invalidate", "Query" })
                data.Add(depth, op);
        return data;
    }

    [Theory]
    [MemberData(nameof(DepthsAndOperations))]
    public void State_operations_on_offloaded_objects_map_handles_down_and_restore_them(int depth, string operation)
    {
        var stack = new LayerStack(depth);
        var offloaded = Offload(stack);
        var n = SampleTree.Existing(offloaded.N1);
        var p = SampleTree.Existing(offloaded.P1);
        var t = SampleTree.Existing(offloaded.T1);
        n.AddDependent(p);
        p.AddDependent(t);
        var hostView = BlockView.Capture(n);
        // Read before the operation: the target forgets a terminated object's handle.
        var targetHandles = hostView.Select(v => stack.Target.HandleOf(v.Context)).ToArray();

        NdisStatus returned = operation switch
        {
            "Terminate" => stack.Top.TerminateOffload(n),
            "Update" => stack.Top.UpdateOffload(n),
            "Invalidate" => stack.Top.InvalidateOffload(n),
            _ => stack.Top.QueryOffloadState(n),
        };
        Assert.Equal(NdisStatus.Pending, returned);
        var done = stack.Host.WaitFor(operation + "Complete", Timeout);

        Assert.Same(n, done.Root);
        for (int i = 0; i < hostView.Count; i++)
        {
            Assert.Equal(hostView[i].Handle, done.Tree![i].Handle);
            Assert.Equal(hostView[i].SourceHandle, done.Tree[i].SourceHandle);
            Assert.Same(hostView[i].ImReserved, done.Tree[i].ImReserved);
            Assert.Equal(NdisStatus.Success, done.Tree[i].Status);
        }
        // Each object goes down under the handle the target was given for it at initiate.
        var seen = stack.Target.Calls.Single(c => c.Name == operation).Tree!;
        Assert.Equal(targetHandles, seen.Select(v => v.Handle).ToArray());
        Assert.All(seen, v => Assert.Equal(stack.Bottom.SourceHandle, v.SourceHandle));

        // Terminate is the final event of the objects: the layers drop their entries for them then.
        int expected = operation == "Terminate" ? 3 : 6;
        Assert.All(stack.Layers, l => Assert.Equal(expected, l.ObjectCount));
        Assert.All(stack.Layers, l => Assert.Equal(expected, l.ContextCount));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Tcp_events_reach_the_host_with_its_own_handle(int depth)
    {
        var stack = new LayerStack(depth);
        var tree = Offload(stack);
        ulong ctx = tree.T2.MiniportOffloadContext!.Context;
        Assert.NotEqual(tree.T2.NdisOffloadHandle, stack.Target.HandleOf(ctx));

        stack.Target.IndicateEvent(ctx, TcpOffloadEventType.SendBacklogChange, 65_536);
        stack.Target.IndicateEvent(ctx, TcpOffloadEventType.Retrieve, (uint)TcpUploadReason.TimeoutExpiration);
        stack.Target.IndicateEvent(ctx, TcpOffloadEventType.Disconnect, 0);
        stack.Target.IndicateEvent(ctx, TcpOffloadEventType.Abort, 0);
        stack.Host.WaitFor("TcpEvent", Timeout, 4);

        var events = stack.Host.Calls.Where(c => c.Name == "TcpEvent").ToArray();
        Assert.All(events, e => Assert.Equal(tree.T2.NdisOffloadHandle, e.Handle));
        Assert.Equal(
            [(TcpOffloadEventType.SendBacklogChange, 65_536u), (TcpOffloadEventType.Retrieve, (uint)TcpUploadReason.TimeoutExpiration),
             (TcpOffloadEventType.Disconnect, 0u), (TcpOffloadEventType.Abort, 0u)],
            events.Select(e => (e.EventType, e.Info)).ToArray());
        Assert.All(stack.Layers, l => Assert.Equal(0, l.UnroutedIndicationCount));
    }

    public static TheoryData<int, NdisStatus, int> IndicateAnswers()
    {
        var data = new TheoryData<int, NdisStatus, int>();
        foreach (int depth in new[] { 1, 2 })
        {
            data.Add(depth, NdisStatus.Success, 10);
            data.Add(depth, NdisStatus.OffloadDataNotAccepted, 0);
            data.Add(depth, NdisStatus.OffloadDataPartiallyAccepted, 3);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(IndicateAnswers))]
    public async Task Receive_indicate_answers_pass_through_both_ways(int depth, NdisStatus answer, int consumed)
    {
        var stack = new LayerStack(depth);
        var tree = Offload(stack);
        var nbl = new NetBufferList();
        nbl.AddBuffer().AddSegment(new byte[10]);
        NetBufferList? hostSaw = null;
        ulong hostHandle = 0;
        stack.Host.IndicateAnswer = (h, l) =>
        {
            hostSaw = l;
            hostHandle = h;
            return (answer, consumed);
        };

        var (gotAnswer, gotConsumed) = await stack.Target.IndicateReceiveAsync(tree.T1.MiniportOffloadContext!.Context, nbl).WaitAsync(Timeout);

        Assert.Equal((answer, consumed), (gotAnswer, gotConsumed));
        Assert.Same(nbl, hostSaw);
        Assert.Equal(tree.T1.NdisOffloadHandle, hostHandle);
        Assert.Equal(NdisStatus.Success, stack.Host.Calls.Single(c => c.Name == "ReceiveIndicate").Status);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Neighbor_query_reaches_the_host_and_its_answer_reaches_the_target(int depth)
    {
        var stack = new LayerStack(depth);
        var tree = Offload(stack);
        ulong ctx = tree.N1.MiniportOffloadContext!.Context;
        stack.Host.ReachabilityAnswer = 0; // "my entry is stale" (spec §6.4)

        var block = await stack.Target.IndicateNeighborQueryAsync(ctx, nicReachabilityDelta: 77).WaitAsync(Timeout);

        var call = stack.Host.Calls.Single(c => c.Name == "NeighborEvent");
        Assert.Same(block, call.Root);
        Assert.Equal(tree.N1.NdisOffloadHandle, call.Handle);
        Assert.Equal(NeighborEventCode.Query, call.NeighborCode);
        Assert.Equal(0u, block.NeighborCached!.Value.HostReachabilityDelta);
        Assert.Equal(77u, block.NeighborDelegated!.Value.NicReachabilityDelta);
        Assert.Equal(stack.Target.HandleOf(ctx), block.NdisOffloadHandle); // the target's block is its own again

        stack.Host.ReachabilityAnswer = 500;
        block = await stack.Target.IndicateNeighborQueryAsync(ctx, 1).WaitAsync(Timeout);
        Assert.Equal(500u, block.NeighborCached!.Value.HostReachabilityDelta);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Adapter_status_passes_up_in_order(int depth)
    {
        var stack = new LayerStack(depth);
        stack.Target.IndicateStatus(NdisStatus.OffloadPause);
        stack.Target.IndicateStatus(NdisStatus.UploadAll);
        stack.Target.IndicateStatus(NdisStatus.OffloadResume);
        stack.Host.WaitFor("Status", Timeout, 3);
        Assert.Equal(
            [NdisStatus.OffloadPause, NdisStatus.UploadAll, NdisStatus.OffloadResume],
            stack.Host.Calls.Where(c => c.Name == "Status").Select(c => c.Status).ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Capabilities_and_parameters_pass_through(int depth)
    {
        var stack = new LayerStack(depth);
        Assert.Same(stack.Target.CurrentCapabilities, stack.Top.CurrentCapabilities);
        Assert.Same(stack.Target.HardwareCapabilities, stack.Top.HardwareCapabilities);
        var parameters = OffloadParameters.ForTicksPerSecond(100);
        stack.Target.LastParametersStatus = NdisStatus.NotSupported;
        Assert.Equal(NdisStatus.NotSupported, stack.Top.SetParameters(parameters));
        Assert.Same(parameters, stack.Target.Parameters);
    }

    [Fact]
    public void A_completion_the_layer_never_issued_or_a_second_one_fails_loudly()
    {
        var stack = new LayerStack(1);
        var stranger = SampleTree.Make(OffloadBlockType.TcpOffloadState, 1);
        Assert.Throws<InvalidOperationException>(() => stack.Bottom.InitiateOffloadComplete(stranger));

        stack.Target.AutoComplete = false;
        var tree = new SampleTree();
        stack.Top.InitiateOffload(tree.Root);
        Assert.Throws<InvalidOperationException>(() => stack.Bottom.QueryOffloadStateComplete(tree.Root)); // wrong operation
        OffloadTree.SetStatus(tree.Root, NdisStatus.Failure);
        stack.Bottom.InitiateOffloadComplete(tree.Root);
        Assert.Single(stack.Host.Calls, c => c.Name == "InitiateComplete");
        // After the first completion ImReserved is the host's again: a repeat is a completion of nothing the layer issued.
        Assert.Throws<InvalidOperationException>(() => stack.Bottom.InitiateOffloadComplete(tree.Root));
        Assert.Equal(0, stack.Bottom.ObjectCount);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_tree_the_target_throws_on_comes_back_to_the_caller_as_it_was(int depth)
    {
        var stack = new LayerStack(depth);
        stack.Target.InitiateThrows = new NotSupportedException("broken target");
        var tree = new SampleTree();
        var hostView = BlockView.Capture(tree.Root);

        Assert.Throws<NotSupportedException>(() => stack.Top.InitiateOffload(tree.Root));

        Assert.Equal(hostView, BlockView.Capture(tree.Root));
        Assert.All(stack.Layers, l => Assert.Equal(0, l.ObjectCount));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void An_event_on_an_object_still_being_offloaded_reaches_the_host(int depth)
    {
        var stack = new LayerStack(depth);
        stack.Target.AutoComplete = false; // the initiate stays below
        var tree = new SampleTree();
        ulong hostT3 = tree.T3.NdisOffloadHandle; // while the tree is below, the block carries the layer's handle
        stack.Top.InitiateOffload(tree.Root);
        var seen = stack.Target.Calls.Single(c => c.Name == "Initiate").Tree!;
        ulong t3Below = seen.Single(v => v.Block == tree.T3).Handle;

        stack.Target.Queue.PostTcpOffloadEvent(stack.Target.Host, t3Below, TcpOffloadEventType.Retrieve, (uint)TcpUploadReason.LowActivity);
        var ev = stack.Host.WaitFor("TcpEvent", Timeout);

        Assert.Equal(hostT3, ev.Handle);
        stack.Target.CompleteHeld();
        stack.Host.WaitFor("InitiateComplete", Timeout);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Indications_for_unknown_handles_are_dropped_and_counted(int depth)
    {
        var stack = new LayerStack(depth);
        var nbl = new NetBufferList();
        stack.Target.Queue.PostTcpOffloadEvent(stack.Target.Host, 0x999, TcpOffloadEventType.Abort, 0);
        var answer = new TaskCompletionSource<(NdisStatus, int)>(TaskCreationOptions.RunContinuationsAsynchronously);
        stack.Target.Queue.Schedule(_ =>
        {
            var status = stack.Target.Host.TcpOffloadReceiveIndicate(0x999, nbl, NdisStatus.Success, out int consumed);
            answer.SetResult((status, consumed));
        }, null);

        Assert.Equal((NdisStatus.OffloadDataNotAccepted, 0), await answer.Task.WaitAsync(Timeout));
        SpinWait.SpinUntil(() => stack.Bottom.UnroutedIndicationCount == 2, Timeout);
        Assert.Equal(2, stack.Bottom.UnroutedIndicationCount);
        Assert.Empty(stack.Host.Calls);
    }

    [Fact]
    public void Binding_a_second_host_is_refused()
    {
        var stack = new LayerStack(1);
        Assert.Throws<InvalidOperationException>(() => stack.Top.Bind(new RecordingHost()));
    }
}
