using System.Diagnostics;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Protocol;
using OffloadEmu.Control.Tests;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// Issue 6: random, truncated and mutated control messages thrown at a live offloademud process (memory link) for a
/// bounded time, from many short-lived raw connections, while a well-behaved host client bound to the same daemon keeps
/// getting every answer right; afterwards the daemon still serves a new client and stops cleanly on SIGTERM. The
/// in-process fuzz test (tests/OffloadEmu.Control.Tests/FuzzTests) also moves data; this one proves the daemon process
/// itself neither crashes nor wedges.
/// </summary>
public sealed class DaemonFuzzTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Socket => _dir.File("control.sock");

    private RemoteOffloadTarget ConnectWhenReady(DaemonProcess daemon)
    {
        var end = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                return RemoteOffloadTarget.Connect(Socket, new RemoteOffloadTargetOptions { ClientName = "good" });
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException && DateTime.UtcNow < end)
            {
                Thread.Sleep(200);
            }
            if (DateTime.UtcNow >= end) Assert.Fail($"offloademud did not serve {Socket}:\n{daemon.Stderr}");
        }
    }


    [Fact]
    public async Task Random_truncated_and_mutated_messages_leave_the_daemon_process_serving_a_well_behaved_client()
    {
        _dir.Write("emulator.json", TestConfig.MemoryJson);
        using var daemon = DaemonProcess.Start(_dir.Path, []);
        using var good = ConnectWhenReady(daemon);
        good.Bind(new FrameHost());

        var stop = Stopwatch.StartNew();
        var duration = TimeSpan.FromSeconds(3);
        int attacks = 0;
        var fuzzer = Task.Run(() =>
        {
            var r = new Random(2026);
            var samples = new RandomMessages(7);
            while (stop.Elapsed < duration)
            {
                using var raw = new RawClient(Socket);
                int kind = r.Next(5);
                if (kind > 0) raw.Hello();
                byte[] bytes;
                switch (kind)
                {
                    case 0 or 1:
                        bytes = new byte[r.Next(1, 400)];
                        r.NextBytes(bytes);
                        break;
                    case 2:
                    {
                        var valid = samples.Make(RandomMessages.AllTypes[r.Next(RandomMessages.AllTypes.Length)]).ToArray();
                        bytes = valid[..r.Next(1, valid.Length)];   // cut short, then the connection closes
                        break;
                    }
                    case 3:
                    {
                        var valid = samples.Make(RandomMessages.AllTypes[r.Next(RandomMessages.AllTypes.Length)]).ToArray();
                        for (int i = 0, n = r.Next(1, 4); i < n; i++) valid[r.Next(valid.Length)] ^= (byte)r.Next(1, 256);
                        bytes = valid;
                        break;
                    }
                    default:
                        bytes = RawClient.Frame((MessageType)r.Next(0, 200), (ulong)r.NextInt64(), new byte[r.Next(0, 64)]);
                        break;
                }
                raw.Send(bytes);
                if (r.Next(2) == 0) raw.ReadUntilClosed(TimeSpan.FromMilliseconds(50));
                Interlocked.Increment(ref attacks);
            }
        });

        // Meanwhile the good client's synchronous requests keep being answered, and answered right.
        int rounds = 0;
        uint[] ackFrequencies = [1, 2, 3];
        while (stop.Elapsed < duration || !fuzzer.IsCompleted)
        {
            var parameters = OffloadParameters.Default with { TcpAckFrequency = (byte)ackFrequencies[rounds % 3] };
            Assert.Equal(NdisStatus.Success, good.SetParameters(parameters));
            var reply = good.QueryParameters();
            Assert.NotNull(reply);
            Assert.Equal((byte)ackFrequencies[rounds % 3], reply.Parameters.TcpAckFrequency);
            var stats = good.QueryTcpStatistics(false);
            Assert.Equal(0UL, stats.CurrentlyEstablished);
            rounds++;
            await Task.Delay(20);
        }
        await fuzzer;
        Assert.True(attacks > 20, $"only {attacks} attacks ran");
        Assert.True(rounds > 10, $"only {rounds} rounds of the good client");
        Assert.True(good.IsConnected, "the good client lost the daemon");
        Assert.Null(good.DispatchError);

        // A new client still binds; the daemon stops cleanly.
        using (var later = RemoteOffloadTarget.Connect(Socket, new RemoteOffloadTargetOptions { ClientName = "later" }))
        {
            later.Bind(new FrameHost());
            Assert.Equal(NdisStatus.Success, later.SetParameters(OffloadParameters.Default));
        }
        good.Dispose();
        daemon.Terminate();
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.DoesNotContain("Unhandled", daemon.Stderr, StringComparison.Ordinal);
    }
}
