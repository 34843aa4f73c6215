using OffloadEmu.Link.Devices;
using OffloadEmu.Target;

namespace OffloadEmu.HostStack.Tests;

/// <summary>
/// Direct offloaded I/O and the target's order: a receive post completed INVALID_STATE (posted after the disconnect
/// indication) ends the application's stream, and it must not do so before the host stack's loop has handled the target's
/// callbacks delivered before it. Seen through the daemon (ControlCaptureTests, session 10): a connection entering
/// TIME_WAIT sends Retrieve(UploadRequested), then the disconnect; the CLI's next read was completed INVALID_STATE on the
/// completion thread and ended the stream while the Retrieve still waited for a busy loop, so a stack disposed at end of
/// stream never issued that terminate.
/// </summary>
public sealed class EndOfStreamOrderTests
{
    /// <summary>Keeps the host's receive posts (completed by the test), can hold the loop inside a statistics query, and
    /// records the handle of the last initiated connection and the terminates issued.</summary>
    private sealed class ScriptedTarget(IOffloadTarget inner) : DelegatingOffloadTarget(inner)
    {
        public IOffloadHost? Host;
        public ulong Handle;
        public volatile NetBufferList? Post;
        public int Terminates;
        public readonly ManualResetEventSlim LoopHeld = new();
        public readonly ManualResetEventSlim ReleaseLoop = new();
        public volatile bool HoldQueries;

        public override void Bind(IOffloadHost host)
        {
            Host = host;
            base.Bind(host);
        }

        public override NdisStatus InitiateOffload(OffloadBlock root)
        {
            foreach (var visit in OffloadTree.Traverse(root))
                if (visit.Block.Type == OffloadBlockType.TcpOffloadState) Handle = visit.Block.NdisOffloadHandle;
            return base.InitiateOffload(root);
        }

        public override NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain)
        {
            Post = chain;
            return NdisStatus.Pending;
        }

        public override NdisStatus TerminateOffload(OffloadBlock root)
        {
            Interlocked.Increment(ref Terminates);
            return base.TerminateOffload(root);
        }

        public override NdisStatus QueryOffloadState(OffloadBlock root)
        {
            if (HoldQueries)
            {
                LoopHeld.Set();
                ReleaseLoop.Wait(TimeSpan.FromSeconds(30));
            }
            return base.QueryOffloadState(root);
        }
    }

    [Fact]
    public async Task A_post_completed_invalid_state_ends_the_stream_only_after_the_loop_handled_the_retrieve_before_it()
    {
        MemoryLink.CreatePair(out var linkA, out var linkB);
        using var targetA = new OffloadTarget(linkA);
        using var targetB = new OffloadTarget(linkB);
        var scripted = new ScriptedTarget(targetA);
        using var a = new HostStack(scripted, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2) });
        using var b = new HostStack(targetB, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 1), OffloadPolicy = OffloadPolicy.Never });
        targetA.Start();
        targetB.Start();
        a.Start();
        b.Start();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var accept = b.Listen(7).AcceptAsync(timeout.Token);
            var client = await a.ConnectAsync(b.Address, 7, timeout.Token).WaitAsync(timeout.Token);
            await accept.WaitAsync(timeout.Token);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (client.Location != ConnectionLocation.Offloaded && DateTime.UtcNow < deadline) await Task.Delay(5);
            Assert.Equal(ConnectionLocation.Offloaded, client.Location);

            // A read posts its buffer (kept by the scripted target).
            var read = client.ReadAsync(new byte[100], timeout.Token).AsTask();
            while (scripted.Post is null && DateTime.UtcNow < deadline) await Task.Delay(5);
            var post = Assert.IsType<NetBufferList>(scripted.Post);

            // The loop is held inside a statistics query; the target's callbacks come from this thread meanwhile: a
            // Retrieve (TIME_WAIT), then the post completed INVALID_STATE.
            scripted.HoldQueries = true;
            var statistics = client.GetStatisticsAsync();
            Assert.True(scripted.LoopHeld.Wait(TimeSpan.FromSeconds(20)), "the loop never queried");
            scripted.HoldQueries = false;
            scripted.Host!.TcpOffloadEvent(scripted.Handle, TcpOffloadEventType.Retrieve, (uint)TcpUploadReason.UploadRequested);
            post.Status = NdisStatus.InvalidState;
            post.TcpOffloadBytesTransferred = 0;
            scripted.Host.TcpOffloadReceiveComplete(post);
            // Before: the completion thread ended the stream here, with the Retrieve unanswered behind the held loop.
            await Task.Delay(200);
            bool endedWhileLoopHeld = read.IsCompleted;
            int terminatesWhileLoopHeld = Volatile.Read(ref scripted.Terminates);
            scripted.ReleaseLoop.Set();

            Assert.False(endedWhileLoopHeld, "the stream ended before the loop handled the Retrieve delivered before the end");
            Assert.Equal(0, terminatesWhileLoopHeld);
            Assert.Equal(0, await read.WaitAsync(timeout.Token));
            Assert.True(Volatile.Read(ref scripted.Terminates) >= 1, "no terminate for the Retrieve");
            await statistics.WaitAsync(timeout.Token);
        }
        finally
        {
            scripted.ReleaseLoop.Set();
            linkA.Dispose();
            linkB.Dispose();
        }
    }
}
