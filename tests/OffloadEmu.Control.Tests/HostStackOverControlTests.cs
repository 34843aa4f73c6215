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
