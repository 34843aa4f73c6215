using System.Buffers;
using OffloadEmu.Chimney;

namespace OffloadEmu.Target;

/// <summary>
/// A target-owned NBL carrying received bytes to the host: a receive indication (spec §3) or the BufferedData returned
/// at terminate (spec §6.6). The host owns it after accepting it and gives it back through ReceiveReturn.
/// </summary>
internal sealed class IndicationBuffer
{
    public IndicationBuffer()
    {
        Nbl = new NetBufferList(bufferCapacity: 1, segmentCapacity: 1) { MiniportReserved = this };
    }

    public NetBufferList Nbl { get; }

    public byte[]? Array { get; private set; }

    /// <summary>The connection the data came from (for the indication answer).</summary>
    public TcpConnection? Connection { get; set; }

    /// <summary>True while the host owns the NBL (an accepted indication, or BufferedData) until ReceiveReturn.</summary>
    public bool HeldByHost
    {
        get => Volatile.Read(ref _heldByHost) != 0;
        set => Volatile.Write(ref _heldByHost, value ? 1 : 0);
    }

    private int _heldByHost;

    /// <summary>Ends the host's ownership exactly once (false when the host did not hold it: a double or unknown return).</summary>
    public bool TryEndHostOwnership() => Interlocked.Exchange(ref _heldByHost, 0) != 0;

    /// <summary>Prepares an NBL of <paramref name="length"/> bytes backed by a pooled array; returns the span to fill.</summary>
    public Span<byte> Prepare(int length)
    {
        Array = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        Nbl.Reset();
        Nbl.MiniportReserved = this;
        var nb = Nbl.AddBuffer();
        nb.AddWritableSegment(Array.AsMemory(0, length));
        return Array.AsSpan(0, length);
    }

    public void Release()
    {
        if (Array is { } array) ArrayPool<byte>.Shared.Return(array);
        Array = null;
        Connection = null;
        HeldByHost = false;
        Nbl.Reset();
        Nbl.MiniportReserved = this;
    }
}
