using OffloadEmu.Link.Devices;
using OffloadEmu.Target;

namespace OffloadEmu.HostStack.Tests;

/// <summary>
/// Direct offloaded I/O (<see cref="HostStackOptions.DirectOffloadedIo"/>, threaded mode): writes and reads of an
/// offloaded connection issue their requests on the application's thread and completions are handled where they arrive.
/// These tests race that path against uploads and re-offloads made from another thread as fast as they complete, with
/// many small writes (one TcpOffloadSend each) and reads of random sizes, and check every byte and the chimney contract.
/// </summary>
public sealed class DirectIoTests
{
    private sealed class Pair : IDisposable
    {
        private readonly MemoryLink _linkA;
        private readonly MemoryLink _linkB;
        private readonly OffloadTarget _targetA;
        private readonly OffloadTarget _targetB;

        public Pair(bool inlineReads, bool offloadB)
        {
            MemoryLink.CreatePair(out _linkA, out _linkB);
            _targetA = new OffloadTarget(_linkA);
            _targetB = new OffloadTarget(_linkB);
            Checker = new ContractChecker(_targetA, new ContractCheckerOptions { Mode = ContractCheckerMode.Record });
            A = new HostStack(Checker, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2), InlineReadCompletions = inlineReads });
            B = new HostStack(_targetB, new HostStackOptions
            {
                Address = new Ipv4Address(198, 18, 0, 1),
                OffloadPolicy = offloadB ? OffloadPolicy.AfterHandshake : OffloadPolicy.Never,
            });
            _targetA.Start();
            _targetB.Start();
            A.Start();
            B.Start();
        }

        public ContractChecker Checker { get; }

        public HostStack A { get; }

        public HostStack B { get; }

        public void Dispose()
        {
            A.Dispose();
            B.Dispose();
            _targetA.Dispose();
            _targetB.Dispose();
            _linkA.Dispose();
            _linkB.Dispose();
        }
    }

    /// <summary>Uploads and re-offloads <paramref name="socket"/> until <paramref name="done"/> completes; returns the uploads.</summary>
    private static async Task<int> CycleAsync(OffloadSocket socket, Task done, CancellationToken token)
    {
        int uploads = 0;
        var random = new Random(7);
        while (!done.IsCompleted && !token.IsCancellationRequested)
        {
            // Sometimes at once, sometimes after a little traffic: the hand-over lands at many different points.
            if (random.Next(3) == 0) await Task.Delay(1, token);
            if (socket.Location == ConnectionLocation.Offloaded)
            {
                await socket.UploadAsync().WaitAsync(token);
                uploads++;
            }
            else if (socket.Location == ConnectionLocation.Host)
            {
                await socket.OffloadAsync().WaitAsync(token);
            }
            else
            {
                await Task.Yield();
            }
        }
        return uploads;
    }

    private static async Task WriteRandomPiecesAsync(OffloadSocket socket, byte[] data, int seed, int maxPiece)
    {
        var random = new Random(seed);
        for (int offset = 0; offset < data.Length;)
        {
            int n = Math.Min(random.Next(1, maxPiece + 1), data.Length - offset);
            await socket.WriteAsync(data.AsMemory(offset, n));
            offset += n;
        }
    }

    private static async Task<byte[]> ReadRandomPiecesAsync(OffloadSocket socket, int expected, int seed)
    {
        var random = new Random(seed);
        var ms = new MemoryStream();
        var buffer = new byte[65536];
        while (ms.Length < expected)
        {
            int n = await socket.ReadAsync(buffer.AsMemory(0, random.Next(1, buffer.Length + 1)));
            if (n == 0) break;
            ms.Write(buffer, 0, n);
        }
        return ms.ToArray();
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task SmallWrites_AndReads_WhileUploadsAndReoffloadsHappen_ByteExact(bool inlineReads, bool offloadB)
    {
        using var pair = new Pair(inlineReads, offloadB);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var listener = pair.B.Listen(7);
        var accept = listener.AcceptAsync(timeout.Token);
        var client = await pair.A.ConnectAsync(pair.B.Address, 7, timeout.Token).WaitAsync(timeout.Token);
        var server = await accept.WaitAsync(timeout.Token);
        for (int i = 0; i < 500 && client.Location != ConnectionLocation.Offloaded; i++) await Task.Delay(10, timeout.Token);
        Assert.Equal(ConnectionLocation.Offloaded, client.Location);

        // Many writes of 1 byte to 3 KiB: thousands of direct sends, each racing the next hand-over.
        var up = AppIo.Pattern(3 * 1024 * 1024, 300);
        var down = AppIo.Pattern(3 * 1024 * 1024, 301);
        var serverRead = Task.Run(() => AppIo.ReadAsync(server, up.Length));
        var clientRead = Task.Run(() => ReadRandomPiecesAsync(client, down.Length, 302));
        var clientWrite = Task.Run(() => WriteRandomPiecesAsync(client, up, 303, 3 * 1024));
        var serverWrite = Task.Run(() => AppIo.WriteAsync(server, down));
        var all = Task.WhenAll(serverRead, clientRead, clientWrite, serverWrite);
        int uploads = await CycleAsync(client, all, timeout.Token);
        await all.WaitAsync(timeout.Token);

        byte[] atServer = await serverRead, atClient = await clientRead;
        Assert.Equal(up.Length, atServer.Length);
        Assert.Equal(down.Length, atClient.Length);
        Assert.True(up.AsSpan().SequenceEqual(atServer), "the bytes the server read differ from those the client wrote");
        Assert.True(down.AsSpan().SequenceEqual(atClient), "the bytes the client read differ from those the server wrote");
        Assert.True(uploads >= 3, $"only {uploads} uploads happened during the transfer");
        Assert.True(pair.A.Statistics.DirectSends > 0, "no write took the direct path");
        Assert.True(pair.A.Statistics.DirectCompletions > 0, "no completion was handled off the loop");
        Assert.Empty(pair.Checker.Violations);

        await client.ShutdownAsync().WaitAsync(timeout.Token);
        Assert.Empty(await AppIo.ReadToEndAsync(server).WaitAsync(timeout.Token));
    }

    [Fact]
    public async Task PingPong_OfOneByte_WhileUploadsAndReoffloadsHappen_EveryReplyInOrder()
    {
        // The request/response shape the direct path is for: one byte out, its echo back, with inline read continuations,
        // while the connection is handed back and forth; each reply must be the byte just sent.
        using var pair = new Pair(inlineReads: true, offloadB: true);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var listener = pair.B.Listen(7);
        var accept = listener.AcceptAsync(timeout.Token);
        var client = await pair.A.ConnectAsync(pair.B.Address, 7, timeout.Token).WaitAsync(timeout.Token);
        var server = await accept.WaitAsync(timeout.Token);
        var echo = Task.Run(async () =>
        {
            var buffer = new byte[64];
            while (true)
            {
                int n = await server.ReadAsync(buffer);
                if (n == 0) break;
                await server.WriteAsync(buffer.AsMemory(0, n));
            }
            await server.ShutdownAsync();
        });
        const int RoundTrips = 4000;
        var pingPong = Task.Run(async () =>
        {
            var one = new byte[1];
            var reply = new byte[16];
            for (int i = 0; i < RoundTrips; i++)
            {
                one[0] = (byte)(i * 31 + 7);
                await client.WriteAsync(one);
                int n = await client.ReadAsync(reply);
                if (n != 1 || reply[0] != one[0]) throw new InvalidOperationException($"round trip {i}: {n} bytes, {reply[0]} for {one[0]}");
            }
        });
        int uploads = await CycleAsync(client, pingPong, timeout.Token);
        await pingPong.WaitAsync(timeout.Token);
        await client.ShutdownAsync().WaitAsync(timeout.Token);
        Assert.Equal(0, await client.ReadAsync(new byte[1]).AsTask().WaitAsync(timeout.Token));
        await echo.WaitAsync(timeout.Token);
        Assert.True(uploads >= 3, $"only {uploads} uploads happened during the ping-pong");
        Assert.True(pair.A.Statistics.DirectSends > 0, "no write took the direct path");
        Assert.Empty(pair.Checker.Violations);
    }
}
