using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OffloadEmu.Control.Client;
using OffloadEmu.Daemon.Hosting;
using OffloadEmu.HostStack;
using OffloadEmu.Target;
using OffloadEmu.Wire;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// Graceful stop with a connection offloaded and data in flight both ways (issue 6, hosted-service tests): the daemon
/// indicates upload-all, the host bound over the control socket takes the connection back (terminate) while the
/// session is still open, and only then are the sessions closed, so no connection is aborted (the peer sees no reset)
/// and every byte either side received is an exact prefix of what the other sent.
/// </summary>
/// <remarks>After the stop the daemon is the host's only NIC and it is gone, so the host-mode connection has no wire
/// (on real hardware the host would carry on through the same NIC without offload): once the session closed, the
/// remote target indicates ADAPTER_REMOVED and the application's reads and writes fail with a clear error instead of
/// waiting for ever (docs/control.md, "The server disappears"); the peer is not reset.</remarks>
public sealed class StopWithOffloadedConnectionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Stop_indicates_upload_all_and_the_host_takes_the_connection_back_before_its_session_closes()
    {
        string socket = _dir.File("control.sock");
        using var host = TestConfig.Build(_dir, TestConfig.MemoryJson, [$"--Control:Endpoint={socket}"]);
        await host.StartAsync();
        var sink = (TargetFrameSink)host.Services.GetRequiredService<IFrameSink>();
        var peerLink = host.Services.GetRequiredService<LinkService>().Stack!.MemoryPeer!;
        using var peerTarget = new OffloadTarget(peerLink);
        using var peerStack = new HostStack.HostStack(peerTarget, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 1), OffloadPolicy = OffloadPolicy.Never });
        peerTarget.Start();
        peerStack.Start();
        await using var remote = await RemoteOffloadTarget.ConnectAsync(socket);
        using var stack = new HostStack.HostStack(remote, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2) });
        stack.Start();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var accept = peerStack.Listen(7).AcceptAsync(timeout.Token);
        var client = await stack.ConnectAsync(peerStack.Address, 7, timeout.Token).WaitAsync(timeout.Token);
        var peer = await accept.WaitAsync(timeout.Token);
        PeerIo.WaitFor(() => client.Location == ConnectionLocation.Offloaded && sink.Target!.ConnectionCount == 1, "the offload through the daemon");

        // Both directions busy: the client writes a stream, the peer echoes it back.
        var data = new byte[64 << 20];
        new Random(77).NextBytes(data);
        var atPeer = new MemoryStream();
        var echoed = new MemoryStream();
        using var stopIo = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (int at = 0; at < data.Length && !stopIo.IsCancellationRequested; at += 16384)
                await client.WriteAsync(data.AsMemory(at, 16384), stopIo.Token);
        });
        var echo = Task.Run(async () =>
        {
            var buffer = new byte[16384];
            int n;
            while ((n = await peer.ReadAsync(buffer, stopIo.Token)) > 0)
            {
                lock (atPeer) atPeer.Write(buffer, 0, n);
                await peer.WriteAsync(buffer.AsMemory(0, n), stopIo.Token);
            }
        });
        var reader = Task.Run(async () =>
        {
            var buffer = new byte[16384];
            int n;
            while ((n = await client.ReadAsync(buffer, stopIo.Token)) > 0) lock (echoed) echoed.Write(buffer, 0, n);
        });
        PeerIo.WaitFor(() => { lock (echoed) return echoed.Length > 1 << 20; }, "1 MiB echoed while offloaded");
        Assert.Equal(ConnectionLocation.Offloaded, client.Location);

        var stopping = Stopwatch.StartNew();
        await host.StopAsync(timeout.Token);
        stopping.Stop();

        // The drain ended because the host uploaded (not by the shutdown timeout), before the session closed.
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"stop took {stopping.Elapsed}");
        Assert.Equal((1, 1), client.OffloadCounts); // taken back (uploaded) before the session closed, not aborted
        Assert.False(remote.IsConnected);
        Assert.Equal(Control.Protocol.ProtocolError.Shutdown, remote.CloseError);

        // Then the target is gone: the client's reader and writer fail with that error (not a reset), within a bound.
        await Task.WhenAll(reader, writer).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(10));
        foreach (var io in new[] { reader, writer })
        {
            var error = Assert.IsAssignableFrom<IOException>(io.Exception?.InnerException);
            Assert.Contains("offload target is gone", error.Message);
        }
        Assert.Equal(ConnectionLocation.Closed, client.Location);
        // Nothing aborted: the peer saw no reset; what each side received is exactly what the other sent, in order.
        await Task.Delay(300);
        Assert.False(echo.IsFaulted, echo.Exception?.ToString());
        stopIo.Cancel();
        byte[] peerBytes, clientBytes;
        lock (atPeer) peerBytes = atPeer.ToArray();
        lock (echoed) clientBytes = echoed.ToArray();
        Assert.True(peerBytes.Length >= clientBytes.Length);
        Assert.True(data.AsSpan(0, peerBytes.Length).SequenceEqual(peerBytes), "the peer received something the client did not send there");
        Assert.True(peerBytes.AsSpan(0, clientBytes.Length).SequenceEqual(clientBytes), "the client received something the peer did not echo there");
    }
}
