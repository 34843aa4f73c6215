using System.Security.Cryptography;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Server;
using OffloadEmu.HostStack;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;
using Xunit.Abstractions;

namespace OffloadEmu.Control.Tests;

/// <summary>
/// Offload → upload → re-offload, repeatedly and at seeded random moments mid-stream, with a host stack driving the
/// real target across the control socket while data flows both ways: every byte arrives once and in order (SHA-256 and
/// byte-exact), every re-offload is taken, nothing stalls and the control connection stays up. The in-process
/// equivalent is tests/OffloadEmu.HostStack.Tests/ThreadedTests.
/// </summary>
/// <remarks>Regression: the server encoded an initiate's completion tree with the TCP block's send chain, which the
/// target owns from then on and was completing on its own thread between the counting and the writing pass; the length
/// in the header no longer matched the payload, the client closed the connection ("trailing bytes"), the connection
/// was reset and OffloadAsync failed or a write stalled (about one run in three).</remarks>
public sealed class HostStackReoffloadTests(ITestOutputHelper output)
{
    public static TheoryData<int> Seeds => [11, 12, 13];

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Repeated_upload_and_reoffload_over_the_socket_while_both_directions_run_is_byte_exact(int seed)
    {
        var dir = Directory.CreateTempSubdirectory("oe-hsr-");
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
            using var stackB = new HostStack.HostStack(targetB, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 1), OffloadPolicy = OffloadPolicy.Never });
            stackA.Start();
            stackB.Start();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

            var accept = stackB.Listen(7).AcceptAsync(timeout.Token);
            var client = await stackA.ConnectAsync(stackB.Address, 7, timeout.Token).WaitAsync(timeout.Token);
            var peer = await accept.WaitAsync(timeout.Token);

            var random = new Random(seed);
            var up = Pattern(3 * 1024 * 1024, seed * 2);
            var down = Pattern(3 * 1024 * 1024, seed * 2 + 1);
            string Diagnose() => $"{client}: received {client.BytesReceived}/{down.Length}, the peer {peer.BytesReceived}/{up.Length}; control connection " +
                (remote.IsConnected ? "up" : $"lost ({remote.CloseError}: {remote.CloseReason})");
            var peerRead = Task.Run(() => ReadAsync(peer, up.Length, 8192, timeout.Token));
            var clientRead = Task.Run(() => ReadAsync(client, down.Length, 5000, timeout.Token));
            var clientWrite = Task.Run(() => WriteAsync(client, up, 7000, timeout.Token));
            var peerWrite = Task.Run(() => WriteAsync(peer, down, 32 * 1024, timeout.Token));
            var all = Task.WhenAll(peerRead, clientRead, clientWrite, peerWrite);

            int uploads = 0, offloads = 0, refused = 0;
            while (!all.IsCompleted)
            {
                await Task.Delay(random.Next(1, 8));
                if (client.Location == ConnectionLocation.Offloaded)
                {
                    await client.UploadAsync().WaitAsync(timeout.Token);
                    Assert.Equal(ConnectionLocation.Host, client.Location);
                    uploads++;
                }
                else if (client.Location == ConnectionLocation.Host)
                {
                    var offload = client.OffloadAsync();
                    if (await Task.WhenAny(offload, Task.Delay(TimeSpan.FromSeconds(15))) != offload) Assert.Fail("OffloadAsync did not complete: " + Diagnose());
                    if (await offload) offloads++;
                    else refused++;
                }
            }
            if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(30))) != all) Assert.Fail("the transfer stalled: " + Diagnose());
            await all;
            output.WriteLine($"seed {seed}: {uploads} uploads, {offloads} re-offloads, {refused} refused");
            var received = await peerRead;
            var echoed = await clientRead;
            Assert.Equal(SHA256.HashData(up), SHA256.HashData(received));
            Assert.Equal(SHA256.HashData(down), SHA256.HashData(echoed));
            Assert.Equal(up, received);
            Assert.Equal(down, echoed);
            Assert.True(uploads >= 3, $"only {uploads} uploads happened during the transfer");
            Assert.True(refused == 0, $"{refused} re-offloads refused: {Diagnose()}");
            Assert.True(offloads >= uploads - 1, $"{offloads} re-offloads for {uploads} uploads");
            Assert.True(remote.IsConnected, Diagnose());

            await client.ShutdownAsync().WaitAsync(timeout.Token);
            Assert.Empty(await ReadAsync(peer, int.MaxValue, 8192, timeout.Token).WaitAsync(timeout.Token));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task<byte[]> ReadAsync(OffloadSocket socket, int expected, int readSize, CancellationToken cancel)
    {
        var ms = new MemoryStream();
        var buffer = new byte[readSize];
        while (ms.Length < expected)
        {
            int n = await socket.ReadAsync(buffer, cancel).AsTask().WaitAsync(cancel);
            if (n == 0) break;
            ms.Write(buffer, 0, n);
        }
        return ms.ToArray();
    }

    private static async Task WriteAsync(OffloadSocket socket, byte[] data, int writeSize, CancellationToken cancel)
    {
        for (int offset = 0; offset < data.Length; offset += writeSize)
            await socket.WriteAsync(data.AsMemory(offset, Math.Min(writeSize, data.Length - offset)), cancel).AsTask().WaitAsync(cancel);
    }

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
