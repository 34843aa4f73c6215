using OffloadEmu.Tcp;

namespace OffloadEmu.Tcp.Tests;

/// <summary>Takes up to <see cref="Room"/> bytes and keeps them.</summary>
internal sealed class RecordingConsumer : ITcpReceiveConsumer
{
    public List<byte> Data { get; } = new();

    public int Room { get; set; } = int.MaxValue;

    public int Calls { get; private set; }

    public int Deliver(ReadOnlySpan<byte> data)
    {
        Calls++;
        int n = Math.Min(Room, data.Length);
        for (int i = 0; i < n; i++) Data.Add(data[i]);
        if (Room != int.MaxValue) Room -= n;
        return n;
    }
}
