using OffloadEmu.Link.Devices;
using OffloadEmu.Target;

namespace OffloadEmu.HostStack.Tests;

/// <summary>Threaded mode: two host stacks, each over its own target with its own threads, talking across a
/// <see cref="MemoryLink"/> pair in real time.</summary>
public sealed class ThreadedTests
{
    [Fact]
    public async Task TwoStacks_OffloadBothEnds_AndEchoOneMiBEachWay()
    {
        MemoryLink.CreatePair(out var linkA, out var linkB);
        using var _a = linkA;
        using var _b = linkB;
        using var targetA = new OffloadTarget(linkA);
        using var targetB = new OffloadTarget(linkB);
        using var stackA = new HostStack(targetA, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2) });
        using var stackB = new HostStack(targetB, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 1) });
        targetA.Start();
        targetB.Start();
        stackA.Start();
        stackB.Start();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var listener = stackB.Listen(7);
        var accept = listener.AcceptAsync(timeout.Token);
        var client = await stackA.ConnectAsync(stackB.Address, 7, timeout.Token).WaitAsync(timeout.Token);
        var server = await accept.WaitAsync(timeout.Token);

        var up = AppIo.Pattern(1024 * 1024, 100);
        var down = AppIo.Pattern(1024 * 1024, 101);
        var serverRead = Task.Run(() => AppIo.ReadAsync(server, up.Length));
        var clientRead = Task.Run(() => AppIo.ReadAsync(client, down.Length));
        var clientWrite = Task.Run(() => AppIo.WriteAsync(client, up));
        var serverWrite = Task.Run(() => AppIo.WriteAsync(server, down));
        await Task.WhenAll(clientWrite, serverWrite).WaitAsync(timeout.Token);
        Assert.Equal(up, await serverRead.WaitAsync(timeout.Token));
        Assert.Equal(down, await clientRead.WaitAsync(timeout.Token));
        Assert.Equal(ConnectionLocation.Offloaded, client.Location);
        Assert.Equal(ConnectionLocation.Offloaded, server.Location);

        // Upload one end mid-stream and keep echoing through the stream view.
        await client.UploadAsync().WaitAsync(timeout.Token);
        Assert.Equal(ConnectionLocation.Host, client.Location);
        var more = AppIo.Pattern(100_000, 102);
        var echo = Task.Run(async () =>
        {
            var buffer = new byte[8192];
            int total = 0;
            while (total < more.Length)
            {
                int n = await server.Stream.ReadAsync(buffer, timeout.Token);
                if (n == 0) break;
                await server.Stream.WriteAsync(buffer.AsMemory(0, n), timeout.Token);
                total += n;
            }
        });
        await client.Stream.WriteAsync(more, timeout.Token);
        var back = await AppIo.ReadAsync(client, more.Length).WaitAsync(timeout.Token);
        await echo.WaitAsync(timeout.Token);
        Assert.Equal(more, back);

        await client.ShutdownAsync().WaitAsync(timeout.Token);
        Assert.Empty(await AppIo.ReadToEndAsync(server).WaitAsync(timeout.Token));
    }

    [Fact]
    public async Task UploadAndReoffloadFromAnotherThread_WhileBothDirectionsRun_ByteExact()
    {
        MemoryLink.CreatePair(out var linkA, out var linkB);
        using var _a = linkA;
        using var _b = linkB;
        using var targetA = new OffloadTarget(linkA);
        using var targetB = new OffloadTarget(linkB);
        using var stackA = new HostStack(targetA, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2) });
        using var stackB = new HostStack(targetB, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 1), OffloadPolicy = OffloadPolicy.Never });
        targetA.Start();
        targetB.Start();
        stackA.Start();
        stackB.Start();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var listener = stackB.Listen(7);
        var accept = listener.AcceptAsync(timeout.Token);
        var client = await stackA.ConnectAsync(stackB.Address, 7, timeout.Token).WaitAsync(timeout.Token);
        var server = await accept.WaitAsync(timeout.Token);

        var up = AppIo.Pattern(4 * 1024 * 1024, 200);
        var down = AppIo.Pattern(4 * 1024 * 1024, 201);
        var serverRead = Task.Run(() => AppIo.ReadAsync(server, up.Length));
        var clientRead = Task.Run(() => AppIo.ReadAsync(client, down.Length, 5000));
        var clientWrite = Task.Run(() => AppIo.WriteAsync(client, up, 7000));
        var serverWrite = Task.Run(() => AppIo.WriteAsync(server, down));
        var all = Task.WhenAll(serverRead, clientRead, clientWrite, serverWrite);
        int uploads = 0;
        while (!all.IsCompleted && !timeout.IsCancellationRequested)
        {
            await Task.Delay(1);
            if (client.Location == ConnectionLocation.Offloaded)
            {
                await client.UploadAsync().WaitAsync(timeout.Token);
                uploads++;
            }
            else if (client.Location == ConnectionLocation.Host)
            {
                await client.OffloadAsync().WaitAsync(timeout.Token);
            }
        }
        await all.WaitAsync(timeout.Token);
        Assert.Equal(up, await serverRead);
        Assert.Equal(down, await clientRead);
        Assert.True(uploads > 0, "no upload happened during the transfer");
    }

    [Fact]
    public void TargetCallbacksAfterDispose_AreDropped()
    {
        // A target completion (the release terminate of a just-closed connection, say) may arrive after the application
        // disposed the stack; it used to hit the disposed wake semaphore on a completion thread and end the process.
        MemoryLink.CreatePair(out var linkA, out var linkB);
        using var _a = linkA;
        using var _b = linkB;
        using var target = new OffloadTarget(linkA);
        var stack = new HostStack(target, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2) });
        target.Start();
        stack.Start();
        stack.Dispose();
        var host = new ChimneyHost(stack);
        host.IndicateStatus(NdisStatus.Success);
        host.TerminateOffloadComplete(new OffloadBlock(OffloadBlockType.NeighborOffloadState));
        Assert.False(stack.ResolveAsync(new Ipv4Address(198, 18, 0, 1)).IsFaulted);
    }
}
