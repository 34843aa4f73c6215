using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;

namespace OffloadEmu.Cli.Drive;

/// <summary>
/// A connection the drive offloaded itself (synthetic offload) and drives through the chimney contract: its own
/// neighbour, path and TCP objects on the target, named by handles that encode the drive's connection number.
/// </summary>
internal sealed class RawConnection(int conn, SyntheticSpec spec)
{
    private readonly Lock _gate = new();
    private readonly MemoryStream _delivered = new();

    public int Conn { get; } = conn;

    public SyntheticSpec Spec { get; } = spec;

    public OffloadContextSlot NeighborSlot { get; } = new();

    public OffloadContextSlot PathSlot { get; } = new();

    public OffloadContextSlot TcpSlot { get; } = new();

    public ulong NeighborHandle => HandleOf(Conn, 1);

    public ulong PathHandle => HandleOf(Conn, 2);

    public ulong TcpHandle => HandleOf(Conn, 3);

    private volatile string _location = "offloading";

    /// <summary>offloading, offloaded, terminating, terminated or failed (reported by <c>state</c> events); written by
    /// the request loop and by callbacks.</summary>
    public string Location
    {
        get => _location;
        set => _location = value;
    }

    /// <summary>The TCP state the target last reported (query, terminate).</summary>
    public TcpState? TcpState { get; set; }

    /// <summary>Bytes delivered (receive completions and indications) and not yet read.</summary>
    public long Waiting
    {
        get
        {
            lock (_gate) return _delivered.Length;
        }
    }

    /// <summary>Every byte delivered so far.</summary>
    public long DeliveredTotal { get; private set; }

    public static ulong HandleOf(int conn, int kind) => ((ulong)conn << 4) | (uint)kind;

    public static int ConnOf(ulong handle) => (int)(handle >> 4);

    /// <summary>Appends <paramref name="count"/> bytes of the NBL's data (callback thread).</summary>
    public void Deliver(NetBufferList nbl, int count)
    {
        if (count <= 0) return;
        var copy = new byte[count];
        int done = 0;
        for (int i = 0; i < nbl.BufferCount && done < count; i++) done += nbl[i].CopyTo(0, copy.AsSpan(done));
        lock (_gate)
        {
            _delivered.Write(copy, 0, done);
            DeliveredTotal += done;
        }
    }

    /// <summary>Appends the <paramref name="count"/> bytes a completed receive post holds: those just before its data
    /// start, which the target advanced past what it placed (spec §3; the drive posts one NB, callback thread).</summary>
    public void DeliverPlaced(NetBufferList nbl, int count)
    {
        if (count <= 0 || nbl.BufferCount == 0) return;
        var copy = new byte[Math.Min(count, nbl[0].DataOffset)];
        nbl[0].CopyBeforeDataStart(copy);
        lock (_gate)
        {
            _delivered.Write(copy);
            DeliveredTotal += copy.Length;
        }
    }

    /// <summary>Takes up to <paramref name="max"/> delivered bytes, oldest first.</summary>
    public byte[] Take(int max)
    {
        lock (_gate)
        {
            var all = _delivered.GetBuffer().AsSpan(0, (int)_delivered.Length);
            int n = Math.Min(max, all.Length);
            var taken = all[..n].ToArray();
            var rest = all[n..].ToArray();
            _delivered.SetLength(0);
            _delivered.Write(rest);
            return taken;
        }
    }
}
