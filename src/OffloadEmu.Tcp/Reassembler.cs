namespace OffloadEmu.Tcp;

/// <summary>Tracks which ranges beyond RcvNxt hold out-of-order data, as offsets from RcvNxt, in a fixed number of
/// slots. The bytes themselves live in the <see cref="ReceiveRing"/>.</summary>
/// <remarks>RFC 9293 §3.10.7.4 (SHLD-31: queue out-of-order segments) with a hard bound: a peer that opens more holes
/// than <see cref="Capacity"/> gets the extra segments dropped (and counted) instead of growing memory.</remarks>
internal sealed class Reassembler
{
    private readonly int _capacity;
    // Empty until the first out-of-order arrival (most connections never see one), then Capacity slots, kept.
    private int[] _start = [];
    private int[] _end = [];
    private int _count;

    public Reassembler(int capacity) => _capacity = capacity;

    public int Capacity => _capacity;

    public int Count => _count;

    public bool IsEmpty => _count == 0;

    public int GetStart(int index) => _start[index];

    public int GetEnd(int index) => _end[index];

    /// <summary>Records [start, end) (offsets from RcvNxt, start &gt; 0); false if a new slot was needed and none is free.</summary>
    public bool TryAdd(int start, int end)
    {
        // Find the first range that ends at or after start (it may merge with the new one).
        int i = 0;
        while (i < _count && _end[i] < start) i++;
        int j = i;
        while (j < _count && _start[j] <= end) j++;
        // Ranges i..j-1 overlap or touch [start, end): collapse them into one.
        if (j > i)
        {
            int newStart = Math.Min(start, _start[i]);
            int newEnd = Math.Max(end, _end[j - 1]);
            _start[i] = newStart;
            _end[i] = newEnd;
            int removed = j - i - 1;
            if (removed > 0)
            {
                Array.Copy(_start, j, _start, i + 1, _count - j);
                Array.Copy(_end, j, _end, i + 1, _count - j);
                _count -= removed;
            }
            return true;
        }
        if (_count == _capacity) return false;
        if (_start.Length == 0)
        {
            _start = new int[_capacity];
            _end = new int[_capacity];
        }
        Array.Copy(_start, i, _start, i + 1, _count - i);
        Array.Copy(_end, i, _end, i + 1, _count - i);
        _start[i] = start;
        _end[i] = end;
        _count++;
        return true;
    }

    /// <summary>True when [start, end) is already wholly held.</summary>
    public bool Covers(int start, int end)
    {
        for (int i = 0; i < _count; i++)
            if (_start[i] <= start && end <= _end[i]) return true;
        return false;
    }

    /// <summary>RcvNxt moved by <paramref name="advanced"/> in-order bytes; returns how many further bytes already held
    /// out of order are now contiguous (RcvNxt moves by those too).</summary>
    public int Advance(int advanced)
    {
        if (_count == 0) return 0;
        int extra = 0;
        int drop = 0;
        // Ranges now wholly or partly at or before the new left edge become in-order data.
        while (drop < _count && _start[drop] <= advanced)
        {
            extra = Math.Max(extra, _end[drop] - advanced);
            drop++;
        }
        int shift = advanced + extra;
        int kept = 0;
        for (int k = drop; k < _count; k++)
        {
            _start[kept] = _start[k] - shift;
            _end[kept] = _end[k] - shift;
            kept++;
        }
        _count = kept;
        return extra;
    }

    public void Clear() => _count = 0;
}
