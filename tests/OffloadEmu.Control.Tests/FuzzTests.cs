using System.Diagnostics;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Tests;

public sealed class FuzzTests
{
    [Fact]
    public async Task Random_truncated_and_mutated_messages_for_three_seconds_leave_the_server_serving_a_well_behaved_client()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var good = lab.Connect(host, "good");
        var (peer, machine) = lab.Establish(40301);
        var root = lab.BuildTree(machine, 0x100, out var tcp);
        good.InitiateOffload(root);
        Assert.True(host.WaitFor(h => h.Initiated.Contains(root), TimeSpan.FromSeconds(30)));
        ulong ctx = tcp.MiniportOffloadContext!.Context;

        var stop = Stopwatch.StartNew();
        var duration = TimeSpan.FromSeconds(3);
        int attacks = 0;
        var fuzzer = Task.Run(() =>
        {
            var r = new Random(1234);
            var samples = new RandomMessages(42);
            while (stop.Elapsed < duration)
            {
                using var raw = new RawClient(lab.SocketPath);
                int kind = r.Next(6);
                if (kind > 0) raw.Hello();
                byte[] bytes;
                switch (kind)
                {
                    case 0 or 1:
                        bytes = new byte[r.Next(1, 300)];
                        r.NextBytes(bytes);
                        break;
                    case 2:
                    {
                        // A valid message cut short, then the connection closed.
                        var valid = samples.Make(RandomMessages.AllTypes[r.Next(RandomMessages.AllTypes.Length)]).ToArray();
                        bytes = valid[..r.Next(1, valid.Length)];
                        break;
                    }
                    case 3:
                    {
                        // A valid message with a few bytes flipped (header or payload).
                        var valid = samples.Make(RandomMessages.AllTypes[r.Next(RandomMessages.AllTypes.Length)]).ToArray();
                        for (int i = 0, n = r.Next(1, 4); i < n; i++) valid[r.Next(valid.Length)] ^= (byte)r.Next(1, 256);
                        bytes = valid;
                        break;
                    }
                    case 4:
                    {
                        // Requests naming random and real contexts of another client.
                        var m = samples.Make(r.Next(2) == 0 ? MessageType.TcpSend : MessageType.TerminateOffload);
                        if (m is IoRequestMessage io) m = new IoRequestMessage(io.Type) { Context = r.Next(2) == 0 ? ctx : io.Context, Chain = io.Chain, RequestId = 9 };
                        bytes = m.ToArray();
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

        // Meanwhile the good client moves data both ways in rounds and checks every byte.
        var sent = new MemoryStream();
        var expectedDown = new MemoryStream();
        int round = 0;
        while (stop.Elapsed < duration || !fuzzer.IsCompleted)
        {
            var up = Nbls.Pattern(32_000, 100 + round);
            var down = Nbls.Pattern(24_000, 200 + round);
            sent.Write(up);
            expectedDown.Write(down);
            good.TcpOffloadSend(ctx, Nbls.Chain(up, 8_000));
            lab.PeerSend(peer, down);
            var end = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (DateTime.UtcNow < end && (lab.PeerReceivedLength(peer) < sent.Length || host.Locked(h => h.Received.Length) < expectedDown.Length))
            {
                host.ReturnAccepted();
                await Task.Delay(5);
            }
            Assert.Equal(sent.ToArray(), lab.PeerReceivedBytes(peer));
            Assert.Equal(expectedDown.ToArray(), host.Locked(h => h.Received.ToArray()));
            round++;
        }
        await fuzzer;
        Assert.True(attacks > 20, $"only {attacks} attacks ran");
        Assert.True(round > 2);
        Assert.True(good.IsConnected);
        Assert.Null(good.DispatchError);
        Assert.Equal(1, lab.Target.ConnectionCount);
        // Sessions of the fuzzer are all gone and a new client binds.
        await lab.Server.WaitForCleanupAsync(TimeSpan.FromSeconds(30));
        var other = new TestHost();
        await using var late = lab.Connect(other, "late");
        Assert.Equal(NdisStatus.Success, late.SetParameters(OffloadParameters.Default));
    }
}
