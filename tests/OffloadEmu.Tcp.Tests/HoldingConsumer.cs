using OffloadEmu.Tcp;

namespace OffloadEmu.Tcp.Tests;

/// <summary>A consumer that takes up to <see cref="Room"/> bytes and then holds up to <see cref="HoldRoom"/> more in
/// storage of its own (<see cref="ITcpReceiveConsumer.Hold"/>), as the offload target does for its next indication.</summary>
internal sealed class HoldingConsumer : ITcpReceiveConsumer
{
    public List<byte> Data { get; } = new();

    public List<byte> HeldData { get; } = new();

    public int Room { get; set; }

    public int HoldRoom { get; set; }

    public int Deliver(ReadOnlySpan<byte> data)
    {
        if (HeldData.Count > 0) return 0; // older bytes held: they go first
        int n = Math.Min(Room, data.Length);
        Data.AddRange(data[..n].ToArray());
        Room -= n;
        return n;
    }

    public int Hold(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(HoldRoom, data.Length);
        HeldData.AddRange(data[..n].ToArray());
        HoldRoom -= n;
        return n;
    }
}
