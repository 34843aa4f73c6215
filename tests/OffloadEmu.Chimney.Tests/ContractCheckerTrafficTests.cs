using Microsoft.Extensions.Logging;
using OffloadEmu.Chimney.Tests.Fakes;
using OffloadEmu.TestSupport;
using static OffloadEmu.Chimney.Tests.Fakes.CheckerRig;

namespace OffloadEmu.Chimney.Tests;

/// <summary>
/// The contract checker with correct traffic: no violation in either mode, through stacked layers, from other
/// threads, and without allocating per request once warm (chimney spec §0-§6, architecture §4).
/// </summary>
public sealed class ContractCheckerTrafficTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static ulong Ctx(OffloadBlock block) => block.MiniportOffloadContext!.Context;

    /// <summary>
    /// A full life through <paramref name="top"/>: offload, sends, posts, an accepted indication and its return, a
    /// forward, update/query/invalidate, a graceful disconnect, terminates. <paramref name="run"/> drains the target.
    /// </summary>
    private static void CorrectTraffic(IOffloadTarget top, ScriptedTarget target, RecordingHost host, Func<int> run)
    {
        var tree = new SampleTree().WithState();
        Assert.Equal(NdisStatus.Pending, top.InitiateOffload(tree.Root));
        run();
        host.WaitFor("InitiateComplete", Timeout);
        ulong c1 = Ctx(tree.T1), c3 = Ctx(tree.T3);

        Assert.Equal(NdisStatus.Pending, top.TcpOffloadSend(c1, Chain(3)));
        Assert.Equal(NdisStatus.Pending, top.TcpOffloadSend(c3, Chain(2)));
        Assert.Equal(NdisStatus.Pending, top.TcpOffloadReceive(c1, Chain(2)));
        run();
        var indicated = Nbl(64, 40);
        var answer = target.IndicateReceiveAsync(c1, indicated);
        run();
        Assert.True(answer.Wait(Timeout));
        Assert.Equal(NdisStatus.Success, top.TcpOffloadReceiveReturn(indicated));
        Assert.Equal(NdisStatus.Pending, top.TcpOffloadReceive(c3, Nbl(0, 41))); // zero-byte post
        Assert.Equal(NdisStatus.Pending, top.TcpOffloadForward(c1, Chain(2)));
        Assert.Equal(NdisStatus.Pending, top.UpdateOffload(SampleTree.Existing(tree.T1)));
        Assert.Equal(NdisStatus.Pending, top.QueryOffloadState(SampleTree.Existing(tree.T3)));
        Assert.Equal(NdisStatus.Pending, top.QueryOffloadState(SampleTree.Existing(tree.T3)));
        run();
        target.IndicateEvent(c1, TcpOffloadEventType.SendBacklogChange, 8192);
        Assert.Equal(NdisStatus.Pending, top.TcpOffloadDisconnect(c1, Nbl(10, 42), TcpDisconnectFlags.Graceful));
        run();
        target.IndicateEvent(c1, TcpOffloadEventType.Disconnect, 0);
        run();
        host.WaitFor("DisconnectComplete", Timeout);
        host.WaitFor("QueryComplete", Timeout, 2);
        Assert.Equal(NdisStatus.Pending, top.InvalidateOffload(SampleTree.Existing(tree.T3)));
        run();
        host.WaitFor("InvalidateComplete", Timeout);

        // Upload: connections, then their path, then (with its other path) the neighbour.
        Assert.Equal(NdisStatus.Pending, top.TerminateOffload(SampleTree.Existing(tree.T1)));
        Assert.Equal(NdisStatus.Pending, top.TerminateOffload(SampleTree.Existing(tree.T2)));
        Assert.Equal(NdisStatus.Pending, top.TerminateOffload(SampleTree.Existing(tree.T3)));
        run();
        host.WaitFor("TerminateComplete", Timeout, 3);
        var neighbour = SampleTree.Existing(tree.N1);
        neighbour.AddDependent(SampleTree.Existing(tree.P1)).AddDependent(SampleTree.Existing(tree.P2));
        Assert.Equal(NdisStatus.Pending, top.TerminateOffload(neighbour));
        run();
        host.WaitFor("TerminateComplete", Timeout, 4);
        Assert.Equal(2, host.Calls.Count(c => c.Name == "SendComplete"));
        Assert.Equal(2, host.Calls.Count(c => c.Name == "ReceiveComplete"));
        Assert.Single(host.Calls, c => c.Name == "ForwardComplete");
        Assert.Single(host.Calls, c => c.Name == "ReceiveIndicate");
    }

    [Theory]
    [InlineData(ContractCheckerMode.Throw)]
    [InlineData(ContractCheckerMode.Record)]
    public void Correct_traffic_produces_no_violation(ContractCheckerMode mode)
    {
        var rig = new CheckerRig(mode);
        CorrectTraffic(rig.Checker, rig.Target, rig.Host, rig.Run);
        rig.AssertClean();
        Assert.Empty(rig.Seen);
        Assert.Equal(0, rig.Checker.TrackedNblCount);
    }

    [Fact]
    public void Correct_traffic_through_checker_layer_checker_produces_no_violation_in_either_checker()
    {
        var queue = CompletionQueue.CreateManual();
        var target = new ScriptedTarget(queue);
        var bottom = new ContractChecker(target, new ContractCheckerOptions { Mode = ContractCheckerMode.Throw });
        var layer = new PassThroughOffloadLayer(bottom);
        var top = new ContractChecker(layer, new ContractCheckerOptions { Mode = ContractCheckerMode.Throw });
        var host = new RecordingHost();
        top.Bind(host);

        CorrectTraffic(top, target, host, queue.RunPending);

        Assert.Empty(top.Violations);
        Assert.Empty(bottom.Violations);
        Assert.Equal(0, top.TrackedNblCount);
        Assert.Equal(0, bottom.TrackedNblCount);
    }

    [Fact]
    public void In_a_stack_each_checker_reports_the_side_that_broke_the_rule()
    {
        var queue = CompletionQueue.CreateManual();
        var target = new ScriptedTarget(queue);
        var bottom = new ContractChecker(target, new ContractCheckerOptions { Mode = ContractCheckerMode.Record });
        var layer = new PassThroughOffloadLayer(bottom);
        var top = new ContractChecker(layer, new ContractCheckerOptions { Mode = ContractCheckerMode.Record });
        var host = new RecordingHost();
        top.Bind(host);
        var tree = new SampleTree().WithState();
        top.InitiateOffload(tree.Root);
        queue.RunPending();
        var nbl = Nbl();
        top.TcpOffloadSend(Ctx(tree.T1), nbl);
        queue.RunPending();

        // The target completes the send again: both checkers see a duplicate (the layer passes completions up unchanged).
        target.Host.TcpOffloadSendComplete(nbl);
        Assert.Equal(ContractRule.DuplicateCompletion, Assert.Single(bottom.Violations).Rule);
        Assert.Equal(ContractRule.DuplicateCompletion, Assert.Single(top.Violations).Rule);

        // The host sends on a context it never offloaded: only the top checker sees it; the layer completes it itself.
        var stray = Nbl(10, 9);
        top.TcpOffloadSend(0xDEAD, stray);
        host.WaitFor("SendComplete", Timeout, 3);
        Assert.Equal([ContractRule.DuplicateCompletion, ContractRule.IoOnUnknownConnection], top.Violations.Select(v => v.Rule).ToArray());
        Assert.Single(bottom.Violations);
        Assert.Equal(NdisStatus.RequestUpload, stray.Status);
    }

    [Fact]
    public void Throw_mode_throws_at_the_host_call_and_does_not_forward_it()
    {
        var rig = new CheckerRig(ContractCheckerMode.Throw);
        rig.Offload();
        var ex = Assert.Throws<ContractViolationException>(() => rig.Checker.TcpOffloadSend(0xDEAD, Nbl()));
        Assert.Equal(ContractRule.IoOnUnknownConnection, ex.Violation.Rule);
        Assert.Equal(ContractSide.Host, ex.Violation.Side);
        Assert.Contains("CC201", ex.Message);
        Assert.Contains("§", ex.Message);
        Assert.DoesNotContain(rig.Target.Calls, c => c.Name == "Send");
        Assert.Single(rig.Checker.Violations);
        Assert.Single(rig.Seen);
        Assert.Equal(0, rig.Checker.TrackedNblCount);
    }

    [Fact]
    public void Throw_mode_throws_at_the_target_call_and_does_not_forward_it()
    {
        var rig = new CheckerRig(ContractCheckerMode.Throw);
        var tree = rig.Offload();
        var nbl = Nbl();
        rig.Checker.TcpOffloadSend(Ctx(tree.T1), nbl);
        rig.Run();

        var ex = Assert.Throws<ContractViolationException>(() => rig.TargetSide.TcpOffloadSendComplete(nbl));

        Assert.Equal(ContractRule.DuplicateCompletion, ex.Violation.Rule);
        Assert.Equal(ContractSide.Target, ex.Violation.Side);
        Assert.Single(rig.Host.Calls, c => c.Name == "SendComplete");
    }

    [Fact]
    public void Throw_mode_violation_inside_a_completion_queue_reaches_its_error_callback()
    {
        var errors = new List<Exception>();
        var queue = CompletionQueue.CreateManual(errors.Add);
        var target = new ScriptedTarget(queue);
        var checker = new ContractChecker(target);
        checker.Bind(new RecordingHost());
        var tree = new SampleTree().WithState();
        checker.InitiateOffload(tree.Root);
        queue.RunPending();

        target.IndicateEvent(Ctx(tree.T1), TcpOffloadEventType.Disconnect, 0);
        queue.PostTcpOffloadEvent(checker, 0xBAD, TcpOffloadEventType.Abort, 0);
        queue.RunPending();

        var ex = Assert.IsType<ContractViolationException>(Assert.Single(errors));
        Assert.Equal(ContractRule.IndicationOnUnknownObject, ex.Violation.Rule);
    }

    [Fact]
    public void Record_mode_logs_every_violation_as_a_warning()
    {
        var logger = new ListLogger();
        var target = new ScriptedTarget(CompletionQueue.CreateManual());
        var checker = new ContractChecker(target, new ContractCheckerOptions { Mode = ContractCheckerMode.Record, Logger = logger });
        checker.Bind(new RecordingHost());

        checker.TcpOffloadReceiveReturn(Nbl());

        var entry = Assert.Single(logger.Entries);
        Assert.Equal(7001, entry.Id);
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Contains("CC205", entry.Message);
    }

    [Fact]
    public void Every_rule_has_an_id_a_side_and_a_spec_section()
    {
        foreach (var rule in Enum.GetValues<ContractRule>())
        {
            Assert.Equal("CC" + (int)rule, ContractRules.GetId(rule));
            Assert.Equal((int)rule < 200 ? ContractSide.Target : ContractSide.Host, ContractRules.GetSide(rule));
            Assert.StartsWith("§", ContractRules.GetSpecSection(rule));
        }
    }

    [Fact]
    public void Send_receive_post_and_indication_round_trips_allocate_nothing_once_warm()
    {
        var counting = new CountingHost();
        var rig = new CheckerRig(ContractCheckerMode.Throw, counting);
        var tree = rig.Offload();
        rig.Target.RecordIo = false;
        var state = new RoundTrips(rig, Ctx(tree.T1), tree.T2.NdisOffloadHandle);
        state.Run(5_000);

        long allocated = Allocations.Measure(state, static s => s.Run(10_000));

        Assert.Equal(0, allocated);
        Assert.Equal(0, rig.Checker.ViolationCount);
        Assert.Equal(0, rig.Checker.TrackedNblCount);
        Assert.True(counting.Completions > 25_000); // sends and receive posts (the CC120 advance check included)
    }

    [Fact]
    public void Completions_from_other_threads_on_many_connections_are_checked_without_false_violations()
    {
        var target = new ScriptedTarget(); // completes on the thread pool through its own queue
        var checker = new ContractChecker(target, new ContractCheckerOptions { Mode = ContractCheckerMode.Record });
        var host = new RecordingHost();
        int completed = 0;
        host.OnSendComplete = chain => Interlocked.Add(ref completed, NetBufferListChain.Count(chain));
        checker.Bind(host);
        var tree = new SampleTree().WithState();
        checker.InitiateOffload(tree.Root);
        host.WaitFor("InitiateComplete", Timeout);
        target.RecordIo = false;
        ulong[] contexts = [Ctx(tree.T1), Ctx(tree.T2), Ctx(tree.T3)];
        const int PerConnection = 3_000;

        Parallel.ForEach(contexts, context =>
        {
            for (int i = 0; i < PerConnection; i++) checker.TcpOffloadSend(context, Nbl(20, (ulong)i));
        });

        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref completed) == 3 * PerConnection, Timeout));
        Assert.Empty(checker.Violations);
        Assert.Equal(0, checker.TrackedNblCount);
    }

    private sealed class RoundTrips(CheckerRig rig, ulong context, ulong otherHandle)
    {
        private readonly NetBufferList[] _sends = [Nbl(100, 1), Nbl(100, 2), Nbl(100, 3), Nbl(100, 4)];
        private readonly NetBufferList _data = Nbl(100, 5);
        private readonly NetBufferList _post = Nbl(100, 6);

        public void Run(int count)
        {
            for (int i = 0; i < count; i++)
            {
                var nbl = _sends[i & 3];
                nbl.Next = null;
                rig.Checker.TcpOffloadSend(context, nbl);
                rig.Run();
                // A post the target fills and advances to its end (spec §3); the host posts the whole buffer again.
                _post.Next = null;
                _post[0].SetData(0, 100);
                rig.Checker.TcpOffloadReceive(context, _post);
                rig.Run();
                // CountingHost takes 1 byte of each indication (partial acceptance), so the target keeps the NBL.
                rig.TargetSide.TcpOffloadReceiveIndicate(otherHandle, _data, NdisStatus.Success, out _);
                rig.TargetSide.TcpOffloadEvent(otherHandle, TcpOffloadEventType.SendBacklogChange, 1);
            }
        }
    }

    private sealed class ListLogger : ILogger
    {
        public List<(int Id, LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Entries.Add((eventId.Id, logLevel, formatter(state, exception)));
    }
}
