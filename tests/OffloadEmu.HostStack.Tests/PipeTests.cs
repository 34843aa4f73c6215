using System.Buffers;

namespace OffloadEmu.HostStack.Tests;

public sealed class PipeTests
{
    [Fact]
    public void DuplexPipe_CarriesBothDirections_WhileOffloaded()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var up = AppIo.Pattern(200_000, 110);
        var down = AppIo.Pattern(200_000, 111);

        lab.Run(WriteAsync(socket, up));
        peer.Send(down);
        Assert.Equal(down, lab.Run(ReadAsync(socket, down.Length)));
        lab.RunUntil(() => peer.Received.Length == up.Length, TimeSpan.FromSeconds(10));
        Assert.Equal(up, peer.Received.ToArray());
    }

    private static async Task WriteAsync(OffloadSocket socket, byte[] data)
    {
        var output = socket.Pipe.Output;
        for (int offset = 0; offset < data.Length; offset += 10_000)
        {
            int n = Math.Min(10_000, data.Length - offset);
            data.AsSpan(offset, n).CopyTo(output.GetSpan(n));
            output.Advance(n);
            await output.FlushAsync();
        }
    }

    private static async Task<byte[]> ReadAsync(OffloadSocket socket, int length)
    {
        var input = socket.Pipe.Input;
        var all = new MemoryStream();
        while (all.Length < length)
        {
            var result = await input.ReadAsync();
            foreach (var segment in result.Buffer) all.Write(segment.Span);
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) break;
        }
        return all.ToArray();
    }
}
