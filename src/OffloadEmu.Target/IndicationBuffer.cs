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
        Start = 0;
        Nbl.Reset();
        Nbl.MiniportReserved = this;
        var nb = Nbl.AddBuffer();
        nb.AddWritableSegment(Array.AsMemory(0, length));
        return Array.AsSpan(0, length);
    }

    /// <summary>Prepares an NBL over <paramref name="length"/> bytes of <paramref name="array"/> from
    /// <paramref name="start"/> (a pooled array filled beforehand: <see cref="ReceiveStaging"/>); the buffer owns the
    /// array from now on and gives it back to the pool at <see cref="Release"/>.</summary>
    public void Adopt(byte[] array, int start, int length)
    {
        Array = array;
        Start = start;
        Nbl.Reset();
        Nbl.MiniportReserved = this;
        var nb = Nbl.AddBuffer();
        nb.AddWritableSegment(array.AsMemory(start, length));
    }

    /// <summary>Where the NBL's bytes start in <see cref="Array"/>.</summary>
    public int Start { get; private set; }

    /// <summary>Some of the bytes exist only here (held bytes, not in the connection's ring): after a refusal the engine
    /// needs them back, so the buffer comes back to it instead of the pool (<see cref="EndAnswer"/>).</summary>
    public bool KeepsBytes { get; set; }

    // 0: no answer pending; 1: the host is being asked; 2: the host returned it (ReceiveReturn) while being asked.
    private int _answer;

    /// <summary>The indicate call is about to run.</summary>
    public void BeginAnswer() => Volatile.Write(ref _answer, 1);

    /// <summary>ReceiveReturn of a <see cref="KeepsBytes"/> buffer during its indicate call: true when the return is
    /// left to <see cref="EndAnswer"/> (the answer decides whether the bytes are still needed).</summary>
    public bool TryDeferReturn() => KeepsBytes && Interlocked.CompareExchange(ref _answer, 2, 1) == 1;

    /// <summary>The indicate call returned: true when the host returned the buffer during it (deferred).</summary>
    public bool EndAnswer() => Interlocked.Exchange(ref _answer, 0) == 2;

    public void Release()
    {
        KeepsBytes = false;
        Volatile.Write(ref _answer, 0);
        if (Array is { } array) ArrayPool<byte>.Shared.Return(array);
        Array = null;
        Connection = null;
        HeldByHost = false;
        Nbl.Reset();
        Nbl.MiniportReserved = this;
    }
}
