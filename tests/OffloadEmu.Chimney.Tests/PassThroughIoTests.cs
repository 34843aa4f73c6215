using OffloadEmu.Chimney.Tests.Fakes;

namespace OffloadEmu.Chimney.Tests;

/// <summary>TCP I/O through 1 and 2 pass-through layers (chimney spec §1: same NBLs down and up; the cannot-propagate rule).</summary>
public sealed class PassThroughIoTests
{
    private static readonly TimeSpan Timeout = PassThroughStateOperationTests.Timeout;

    private static NetBufferList Chain(int count, int bytes = 100)
    {
        NetBufferList? head = null, tail = null;
        for (int i = 0; i < count; i++)
        {
            var nbl = new NetBufferList { RequestId = (ulong)(i + 1) };
            nbl.AddBuffer().AddSegment(new byte[bytes]);
            NetBufferListChain.Append(ref head, ref tail, nbl);
        }
        return head!;
    }

    internal static List<NetBufferList> Members(NetBufferList? head)
    {
        var list = new List<NetBufferList>();
        for (var nbl = head; nbl is not null; nbl = nbl.Next) list.Add(nbl);
        return list;
    }

    public static TheoryData<int, string> DepthsAndRequests()
    {
        var data = new TheoryData<int, string>();
        foreach (int depth in new[] { 1, 2 })
            foreach (string op in new[] { "Send", "Receive", "Disconnect", "Forward" })
                data.Add(depth, op);
        return data;
    }

    private static NdisStatus Issue(IOffloadTarget target, string request, ulong context, NetBufferList chain) => request switch
    {
        "Send" => target.TcpOffloadSend(context, chain),
        "Receive" => target.TcpOffloadReceive(context, chain),
        "Disconnect" => target.TcpOffloadDisconnect(context, chain, TcpDisconnectFlags.Graceful),
        _ => target.TcpOffloadForward(context, chain),
    };

    [Theory]
    [MemberData(nameof(DepthsAndRequests))]
    public void Io_goes_down_with_the_same_nbls_and_completes_up_with_them(int depth, string request)
    {
        var stack = new LayerStack(depth);
        var tree = PassThroughStateOperationTests.Offload(stack);
        ulong ctx = tree.T1.MiniportOffloadContext!.Context;
        var chain = Chain(request == "Disconnect" ? 1 : 3);
        var members = Members(chain).ToArray();

        Assert.Equal(NdisStatus.Pending, Issue(stack.Top, request, ctx, chain));
        var done = stack.Host.WaitFor(request + "Complete", Timeout);

        var seen = stack.Target.Calls.Single(c => c.Name == request);
        Assert.Same(chain, seen.Nbl);
        Assert.Equal(ctx, seen.Context);
        if (request == "Disconnect") Assert.Equal(TcpDisconnectFlags.Graceful, seen.Flags);
        Assert.Same(chain, done.Nbl);
        Assert.Equal(members, Members(done.Nbl).ToArray());
        Assert.All(members, m => Assert.Equal(NdisStatus.Success, m.Status));
        Assert.All(stack.Layers, l => Assert.Equal(0, l.SelfCompletedRequestCount));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Receive_return_is_synchronous_and_reaches_the_target(int depth)
    {
        var stack = new LayerStack(depth);
        var chain = Chain(2);
        Assert.Equal(NdisStatus.Success, stack.Top.TcpOffloadReceiveReturn(chain));
        Assert.Same(chain, stack.Target.Calls.Single(c => c.Name == "ReceiveReturn").Nbl);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_send_for_an_unknown_object_is_completed_by_the_layer_with_request_upload(int depth)
    {
        var stack = new LayerStack(depth);
        PassThroughStateOperationTests.Offload(stack);
        var chain = Chain(3);
        chain.TcpOffloadBytesTransferred = 55;

        Assert.Equal(NdisStatus.Pending, stack.Top.TcpOffloadSend(0xDEAD, chain));
        var done = stack.Host.WaitFor("SendComplete", Timeout);

        Assert.Same(chain, done.Nbl);
        Assert.Equal(
            [NdisStatus.RequestUpload, NdisStatus.UploadRequested, NdisStatus.UploadRequested],
            Members(chain).Select(n => n.Status).ToArray());
        Assert.All(Members(chain), n => Assert.Equal(0, n.TcpOffloadBytesTransferred));
        Assert.DoesNotContain(stack.Target.Calls, c => c.Name == "Send");
        Assert.Equal(1, stack.Layers[0].SelfCompletedRequestCount); // the top layer stopped it
    }

    [Theory]
    [InlineData(1, "Receive")]
    [InlineData(1, "Forward")]
    [InlineData(1, "Disconnect")]
    [InlineData(2, "Receive")]
    [InlineData(2, "Forward")]
    [InlineData(2, "Disconnect")]
    public void Other_io_for_an_unknown_object_completes_upload_in_progress(int depth, string request)
    {
        var stack = new LayerStack(depth);
        var chain = Chain(request == "Disconnect" ? 1 : 2);
        Assert.Equal(NdisStatus.Pending, Issue(stack.Top, request, 0xBEEF, chain));
        var done = stack.Host.WaitFor(request + "Complete", Timeout);
        Assert.Same(chain, done.Nbl);
        Assert.All(Members(chain), n => Assert.Equal(NdisStatus.UploadInProgress, n.Status));
        Assert.DoesNotContain(stack.Target.Calls, c => c.Name == request);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_send_after_the_terminate_went_down_is_not_propagated(int depth)
    {
        var stack = new LayerStack(depth);
        var tree = PassThroughStateOperationTests.Offload(stack);
        ulong ctx = tree.T3.MiniportOffloadContext!.Context;
        stack.Target.AutoComplete = false; // the terminate stays below the layers
        var terminate = SampleTree.Existing(tree.T3);
        Assert.Equal(NdisStatus.Pending, stack.Top.TerminateOffload(terminate));

        var during = Chain(2);
        Assert.Equal(NdisStatus.Pending, stack.Top.TcpOffloadSend(ctx, during));
        stack.Host.WaitFor("SendComplete", Timeout);
        Assert.Equal([NdisStatus.RequestUpload, NdisStatus.UploadRequested], Members(during).Select(n => n.Status).ToArray());
        Assert.DoesNotContain(stack.Target.Calls, c => c.Name == "Send");

        stack.Target.CompleteHeld();
        stack.Host.WaitFor("TerminateComplete", Timeout);
        var after = Chain(1);
        stack.Top.TcpOffloadSend(ctx, after);
        stack.Host.WaitFor("SendComplete", Timeout, 2);
        Assert.Equal(NdisStatus.RequestUpload, after.Status);
        Assert.DoesNotContain(stack.Target.Calls, c => c.Name == "Send");

        // Other connections keep flowing.
        stack.Target.AutoComplete = true;
        var other = Chain(1);
        stack.Top.TcpOffloadSend(tree.T1.MiniportOffloadContext!.Context, other);
        stack.Host.WaitFor("SendComplete", Timeout, 3);
        Assert.Equal(NdisStatus.Success, other.Status);
    }

    [Fact]
    public void Layer_io_paths_allocate_nothing_after_warm_up()
    {
        // Ring sized for the whole measured burst: growing it is warm-up, not per-request cost.
        var target = new ScriptedTarget(new CompletionQueue(initialCapacity: 4096)) { RecordIo = false };
        var bottom = new PassThroughOffloadLayer(target);
        var top = new PassThroughOffloadLayer(bottom);
        var host = new RecordingHost { OnSendComplete = static _ => { } };
        top.Bind(host);
        var tree = new SampleTree();
        top.InitiateOffload(tree.Root);
        host.WaitFor("InitiateComplete", Timeout);
        ulong ctx = tree.T1.MiniportOffloadContext!.Context;
        ulong targetHandle = target.HandleOf(ctx);
        var nbl = Chain(1);

        // The target's queue delivers the completions on its worker; here only the down path runs on this thread.
        void Down(int n)
        {
            for (int i = 0; i < n; i++)
            {
                nbl.Next = null;
                top.TcpOffloadSend(ctx, nbl);
                top.TcpOffloadReceiveReturn(nbl);
            }
        }
        // The up path, driven on this thread from the bottom layer's host side into a host that only counts.
        var counting = new CountingHost();
        var upTarget = new ScriptedTarget();
        var upBottom = new PassThroughOffloadLayer(upTarget);
        var upTop = new PassThroughOffloadLayer(upBottom);
        upTop.Bind(counting);
        var upTree = new SampleTree();
        upTop.InitiateOffload(upTree.Root);
        SpinWait.SpinUntil(() => counting.Completions == 1, Timeout);
        ulong upHandle = upTarget.HandleOf(upTree.T1.MiniportOffloadContext!.Context);
        void Up(int n)
        {
            for (int i = 0; i < n; i++)
            {
                upBottom.TcpOffloadSendComplete(nbl);
                upBottom.TcpOffloadReceiveComplete(nbl);
                upBottom.TcpOffloadEvent(upHandle, TcpOffloadEventType.SendBacklogChange, 1);
                upBottom.TcpOffloadReceiveIndicate(upHandle, nbl, NdisStatus.Success, out _);
            }
        }

        Down(2_000);
        Up(2_000);
        SpinWait.SpinUntil(() => target.Queue.PendingCount == 0, Timeout);
        // Hold the target's worker while measuring, so the posts never have to queue it on the thread pool
        // (whose own queue may grow) and the ring never sees more than this burst.
        // Not disposed: the worker may reach the gate item only after the test has ended.
        var gate = new ManualResetEventSlim();
        target.Queue.Schedule(static g => ((ManualResetEventSlim)g!).Wait(), gate);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Down(1_000);
        long down = GC.GetAllocatedBytesForCurrentThread() - before;
        gate.Set();
        before = GC.GetAllocatedBytesForCurrentThread();
        Up(1_000);
        long up = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, down);
        Assert.Equal(0, up);
        Assert.Equal(3_000, counting.Events);
        Assert.Equal(3_000, counting.Indications);
        Assert.NotEqual(0UL, targetHandle);
    }
}
