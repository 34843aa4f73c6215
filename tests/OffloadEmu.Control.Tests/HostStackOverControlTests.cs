using OffloadEmu.Control.Client;
using OffloadEmu.Control.Server;
using OffloadEmu.HostStack;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;

namespace OffloadEmu.Control.Tests;

/// <summary>The host stack works unchanged against a target across the control protocol (issue "daemon": the same
/// contract interface in-process or remote): one stack drives its NIC through a <see cref="RemoteOffloadTarget"/>, the
/// other in-process, and they exchange data offloaded, uploaded and offloaded again, byte-exact.</summary>
public sealed class HostStackOverControlTests
{
    [Fact]
    public async Task A_host_stack_over_the_control_socket_offloads_uploads_and_reoffloads_byte_exact()
    {
        var dir = Directory.CreateTempSubdirectory("oe-hs-");
        try
        {
            MemoryLink.CreatePair(out var linkA, out var linkB);
            using var _a = linkA;
            using var _b = linkB;
            using var targetA = new OffloadTarget(linkA);
            using var targetB = new OffloadTarget(linkB);
            string socket = Path.Combine(dir.FullName, "control.sock");
            await using var server = new ControlServer(targetA, new ControlServerOptions { Path = socket });
            server.Start();
            targetA.Start();
            targetB.Start();
            await using var remote = await RemoteOffloadTarget.ConnectAsync(socket);
            using var stackA = new HostStack.HostStack(remote, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2) });
            using var stackB = new HostStack.HostStack(targetB, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 1) });
            stackA.Start();
            stackB.Start();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

            var accept = stackB.Listen(7).AcceptAsync(timeout.Token);
            var client = await stackA.ConnectAsync(stackB.Address, 7, timeout.Token).WaitAsync(timeout.Token);
            var peer = await accept.WaitAsync(timeout.Token);
            await WaitForAsync(() => client.Location == ConnectionLocation.Offloaded, "the offload through the socket");

            var sent = new MemoryStream();
            var echoed = new MemoryStream();
            var echo = Task.Run(async () =>
            {
                var buffer = new byte[16384];
                while (true)
                {
                    int n = await peer.Stream.ReadAsync(buffer, timeout.Token);
                    if (n == 0) break;
                    await peer.Stream.WriteAsync(buffer.AsMemory(0, n), timeout.Token);
                }
                await peer.ShutdownAsync();
            });
            var reader = Task.Run(async () =>
            {
                var buffer = new byte[16384];
                int n;
                while ((n = await client.Stream.ReadAsync(buffer, timeout.Token)) > 0) echoed.Write(buffer, 0, n);
            });
            for (int round = 0; round < 4; round++)
            {
                var chunk = Pattern(256 * 1024, round);
                sent.Write(chunk);
                await client.Stream.WriteAsync(chunk, timeout.Token);
                Assert.Equal(ConnectionLocation.Offloaded, client.Location);
            }
            // Upload over the socket, carry on in host mode, re-offload and carry on offloaded (the repeated, seeded
            // form of this is HostStackReoffloadTests).
            await client.UploadAsync().WaitAsync(timeout.Token);
            Assert.Equal(ConnectionLocation.Host, client.Location);
            var tail = Pattern(128 * 1024, 9);
            sent.Write(tail);
            await client.Stream.WriteAsync(tail, timeout.Token);
            Assert.True(await client.OffloadAsync().WaitAsync(timeout.Token), "the re-offload was refused");
            Assert.Equal(ConnectionLocation.Offloaded, client.Location);
            var last = Pattern(128 * 1024, 10);
            sent.Write(last);
            await client.Stream.WriteAsync(last, timeout.Token);
            await client.ShutdownAsync().WaitAsync(timeout.Token);
            await Task.WhenAll(echo, reader).WaitAsync(timeout.Token);
            Assert.Equal(sent.ToArray(), echoed.ToArray());
            Assert.Equal(0, targetA.IndicatedBuffersHeldByHost);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>With large send buffers (the CLI's are 4 MiB) a re-offload hands over several MiB of unacknowledged
    /// sends: more than one control message. It goes in fragments (protocol version 2) and the
    /// connection carries on offloaded, byte-exact. Before, the client refused it (RESOURCES, the connection stayed in
    /// host mode), and before that the server closed the session and the transfer hung (the demo, CI 05:22).</summary>
    [Fact]
    public async Task A_reoffload_handing_over_5_MiB_of_unacknowledged_sends_goes_in_fragments_and_is_byte_exact()
    {
        var dir = Directory.CreateTempSubdirectory("oe-hs4-");
        try
        {
            MemoryLink.CreatePair(out var linkA, out var linkB);
            using var _a = linkA;
            using var _b = linkB;
            using var targetA = new OffloadTarget(linkA);
            using var targetB = new OffloadTarget(linkB);
            string socket = Path.Combine(dir.FullName, "control.sock");
            await using var server = new ControlServer(targetA, new ControlServerOptions { Path = socket });
            server.Start();
            targetA.Start();
            targetB.Start();
            await using var remote = await RemoteOffloadTarget.ConnectAsync(socket);
            const int Buffers = 4 << 20;
            var big = new HostStackOptions();
            using var stackA = new HostStack.HostStack(remote, new HostStackOptions
            {
                // 8 MiB of send buffer: 5 MiB written stay unacknowledged, so the re-offload's initiate passes 4 MiB
                // (with the CLI's 4 MiB buffers it reaches 4 MiB plus the headers, as in the demo).
                Address = new Ipv4Address(198, 18, 0, 2), SendBufferSize = 2 * Buffers, ReceiveBufferSize = Buffers,
                Tcp = big.Tcp with { ReceiveBufferSize = Buffers },
            });
            // The peer's window stays small (64 KiB): the client's sends stay unacknowledged in its 4 MiB send buffer.
            using var stackB = new HostStack.HostStack(targetB, new HostStackOptions
            {
                Address = new Ipv4Address(198, 18, 0, 1), OffloadPolicy = OffloadPolicy.Never, SendBufferSize = Buffers,
            });
            stackA.Start();
            stackB.Start();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var accept = stackB.Listen(7).AcceptAsync(timeout.Token);
            var client = await stackA.ConnectAsync(stackB.Address, 7, timeout.Token).WaitAsync(timeout.Token);
            var peer = await accept.WaitAsync(timeout.Token);
            await WaitForAsync(() => client.Location == ConnectionLocation.Offloaded, "the offload through the socket");

            // Nobody reads yet: 5 MiB wait in the client's send buffer (unacknowledged), 3 MiB in its receive buffer.
            var up = Pattern(5 << 20, 21);
            var down = Pattern(3 << 20, 22);
            var upWrite = client.Stream.WriteAsync(up, timeout.Token).AsTask();
            var downWrite = peer.Stream.WriteAsync(down, timeout.Token).AsTask();
            await WaitForAsync(() => client.BytesReceived >= down.Length, "the peer's data to reach the client's buffer");
            await client.UploadAsync().WaitAsync(timeout.Token);
            Assert.Equal(ConnectionLocation.Host, client.Location);
            Assert.True(await client.OffloadAsync().WaitAsync(timeout.Token), "the re-offload was refused");
            Assert.Equal(ConnectionLocation.Offloaded, client.Location);
            Assert.True(remote.FragmentedRequests >= 1, "the re-offload fitted one message: the test proves nothing");

            var gotUp = new byte[up.Length];
            var gotDown = new byte[down.Length];
            await Task.WhenAll(peer.Stream.ReadExactlyAsync(gotUp, timeout.Token).AsTask(), client.Stream.ReadExactlyAsync(gotDown, timeout.Token).AsTask(), upWrite, downWrite)
                .WaitAsync(timeout.Token);
            Assert.True(up.AsSpan().SequenceEqual(gotUp), "client to peer not byte-exact");
            Assert.True(down.AsSpan().SequenceEqual(gotDown), "peer to client not byte-exact");
            Assert.Equal(ConnectionLocation.Offloaded, client.Location);
            Assert.True(remote.IsConnected);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("timed out waiting for " + what);
            await Task.Delay(5);
        }
    }

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
