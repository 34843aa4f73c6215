using OffloadEmu.Wire;

namespace OffloadEmu.Tcp;

/// <summary>The sender's record of which sequence ranges above SND.UNA the peer has SACKed, in a fixed number of
/// slots, and the RFC 6675 loss test over it; and which ranges were retransmitted in the current recovery episode.</summary>
/// <remarks>RFC 6675 §3 (IsLost: DupThresh discontiguous SACKed ranges, or more than (DupThresh − 1)·SMSS SACKed bytes,
/// above a sequence number), §4. SACKed data is kept until cumulatively acknowledged (RFC 2018 §8: receivers may renege).
/// Only nearby sequence numbers are compared (all ranges lie in [SND.UNA, SND.MAX]).
/// <para>Retransmission marks replace RFC 6675's single HighRxt with per-range marks (as Linux's per-segment
/// SACKED_RETRANS bit): NextSeg skips marked bytes instead of everything below HighRxt, so a hole below an earlier
/// rescue retransmission is still repaired and no byte is resent twice in one episode, and pipe counts exactly the
/// retransmitted bytes once more (§4 SetPipe). The marks live in a fixed number of slots; when they are full a new mark
/// is merged into its nearest neighbour (the gap counts as retransmitted: it is not resent by NextSeg and waits for the
/// retransmission timer, the conservative side).</para></remarks>
internal sealed class SackScoreboard
{
    private readonly int _capacity;
    // Empty until the first SACK block (or retransmission mark) arrives, then the slots, kept: a connection that never
    // sees loss holds none.
    private SeqNumber[] _start = [];
    private SeqNumber[] _end = [];
    private int _count;
    // Retransmitted ranges of this recovery episode, sorted and disjoint: [_rxt[2i], _rxt[2i + 1]).
    private SeqNumber[] _rxt = [];
    private int _rxtCount;

    public SackScoreboard(int capacity) => _capacity = capacity;

    // Holes are at most one more than SACKed ranges, plus the rescue retransmission.
    private int MarkSlots => _capacity + 2;

    /// <summary>Retransmitted ranges currently marked.</summary>
    public int RetransmittedRangeCount => _rxtCount;

    public int Count => _count;

    public SeqNumber GetStart(int index) => _start[index];

    public SeqNumber GetEnd(int index) => _end[index];

    /// <summary>Highest SACKed sequence number (one past), or <paramref name="sndUna"/> when nothing is SACKed.</summary>
    public SeqNumber HighSacked(SeqNumber sndUna) => _count == 0 ? sndUna : _end[_count - 1];

    /// <summary>Forgets SACKed ranges and retransmission marks (after a retransmission timeout).</summary>
    public void Clear()
    {
        _count = 0;
        _rxtCount = 0;
    }

    /// <summary>Forgets the retransmission marks (a recovery episode starts or ends).</summary>
    public void ClearRetransmitted() => _rxtCount = 0;

    /// <summary>Marks [<paramref name="start"/>, <paramref name="end"/>) as retransmitted in this recovery episode.</summary>
    public void MarkRetransmitted(SeqNumber start, SeqNumber end)
    {
        if (end <= start) return;
        int i = 0;
        while (i < _rxtCount && _rxt[2 * i + 1] < start) i++;
        int j = i;
        while (j < _rxtCount && _rxt[2 * j] <= end) j++;
        if (j > i)
        {
            // Overlaps or touches marks i..j-1: merge them into slot i.
            _rxt[2 * i] = SeqNumber.Min(start, _rxt[2 * i]);
            _rxt[2 * i + 1] = SeqNumber.Max(end, _rxt[2 * (j - 1) + 1]);
            RemoveMarks(i + 1, j - i - 1);
            return;
        }
        if (_rxtCount == MarkSlots)
        {
            // Full: widen the nearest neighbour over the gap (never resend a byte twice; the gap waits for the timer).
            long gapBelow = i > 0 ? start - _rxt[2 * (i - 1) + 1] : long.MaxValue;
            long gapAbove = i < _rxtCount ? _rxt[2 * i] - end : long.MaxValue;
            if (gapBelow <= gapAbove) _rxt[2 * (i - 1) + 1] = end;
            else _rxt[2 * i] = start;
            return;
        }
        if (_rxt.Length == 0) _rxt = new SeqNumber[2 * MarkSlots];
        Array.Copy(_rxt, 2 * i, _rxt, 2 * i + 2, 2 * (_rxtCount - i));
        _rxt[2 * i] = start;
        _rxt[2 * i + 1] = end;
        _rxtCount++;
    }

    private void RemoveMarks(int at, int count)
    {
        if (count <= 0) return;
        Array.Copy(_rxt, 2 * (at + count), _rxt, 2 * at, 2 * (_rxtCount - at - count));
        _rxtCount -= count;
    }

    /// <summary>The first run of bytes in [<paramref name="from"/>, <paramref name="to"/>) not marked as retransmitted;
    /// false when every byte there is marked.</summary>
    public bool FirstUnretransmitted(SeqNumber from, SeqNumber to, out SeqNumber runStart, out SeqNumber runEnd)
    {
        runStart = from;
        for (int i = 0; i < _rxtCount; i++)
        {
            var s = _rxt[2 * i];
            var e = _rxt[2 * i + 1];
            if (e <= runStart) continue;
            if (s > runStart)
            {
                runEnd = SeqNumber.Min(s, to);
                return runStart < runEnd;
            }
            runStart = e;
            if (runStart >= to) break;
        }
        runEnd = to;
        return runStart < to;
    }

    /// <summary>Bytes of [<paramref name="from"/>, <paramref name="to"/>) marked as retransmitted.</summary>
    public long RetransmittedBytes(SeqNumber from, SeqNumber to)
    {
        long bytes = 0;
        for (int i = 0; i < _rxtCount; i++)
        {
            var s = SeqNumber.Max(_rxt[2 * i], from);
            var e = SeqNumber.Min(_rxt[2 * i + 1], to);
            if (e > s) bytes += e - s;
        }
        return bytes;
    }

    /// <summary>Merges the blocks of an arriving ACK; blocks outside (SND.UNA, SND.MAX] (D-SACKs, bogus ones) are ignored.</summary>
    public void Update(in TcpOptions options, SeqNumber sndUna, SeqNumber sndMax)
    {
        for (int b = 0; b < options.SackBlockCount; b++)
        {
            var block = options.GetSackBlock(b);
            var start = block.Start;
            var end = block.End;
            if (end <= start || end <= sndUna || end > sndMax || start < sndUna - 1) continue;
            if (start < sndUna) start = sndUna;
            Add(start, end);
        }
    }

    private void Add(SeqNumber start, SeqNumber end)
    {
        int i = 0;
        while (i < _count && _end[i] < start) i++;
        int j = i;
        while (j < _count && _start[j] <= end) j++;
        if (j > i)
        {
            _start[i] = SeqNumber.Min(start, _start[i]);
            _end[i] = SeqNumber.Max(end, _end[j - 1]);
            int removed = j - i - 1;
            if (removed > 0)
            {
                Array.Copy(_start, j, _start, i + 1, _count - j);
                Array.Copy(_end, j, _end, i + 1, _count - j);
                _count -= removed;
            }
            return;
        }
        if (_count == _capacity)
        {
            // Full: forget the highest range (the least useful for recovery) unless the new one is higher still.
            if (i == _count) return;
            _count--;
        }
        if (_start.Length == 0)
        {
            _start = new SeqNumber[_capacity];
            _end = new SeqNumber[_capacity];
        }
        Array.Copy(_start, i, _start, i + 1, _count - i);
        Array.Copy(_end, i, _end, i + 1, _count - i);
        _start[i] = start;
        _end[i] = end;
        _count++;
    }

    /// <summary>Drops what the cumulative ACK now covers.</summary>
    public void Advance(SeqNumber sndUna)
    {
        int drop = 0;
        while (drop < _count && _end[drop] <= sndUna) drop++;
        if (drop > 0)
        {
            Array.Copy(_start, drop, _start, 0, _count - drop);
            Array.Copy(_end, drop, _end, 0, _count - drop);
            _count -= drop;
        }
        if (_count > 0 && _start[0] < sndUna) _start[0] = sndUna;
        int marks = 0;
        while (marks < _rxtCount && _rxt[2 * marks + 1] <= sndUna) marks++;
        RemoveMarks(0, marks);
        if (_rxtCount > 0 && _rxt[0] < sndUna) _rxt[0] = sndUna;
    }

    /// <summary>RFC 6675 IsLost(seq).</summary>
    public bool IsLost(SeqNumber seq, int dupThresh, int mss)
    {
        int ranges = 0;
        long bytes = 0;
        for (int i = _count - 1; i >= 0 && _end[i] > seq; i--)
        {
            ranges++;
            bytes += _end[i] - SeqNumber.Max(_start[i], seq + 1);
            if (ranges >= dupThresh || bytes > (long)(dupThresh - 1) * mss) return true;
        }
        return false;
    }

    /// <summary>True when <paramref name="seq"/> lies in a SACKed range.</summary>
    public bool IsSacked(SeqNumber seq)
    {
        for (int i = 0; i < _count; i++)
            if (seq >= _start[i] && seq < _end[i]) return true;
        return false;
    }
}
