using OffloadEmu.Wire;

namespace OffloadEmu.Tcp;

/// <summary>The sender's record of which sequence ranges above SND.UNA the peer has SACKed, in a fixed number of
/// slots, and the RFC 6675 loss test over it.</summary>
/// <remarks>RFC 6675 §3 (IsLost: DupThresh discontiguous SACKed ranges, or more than (DupThresh − 1)·SMSS SACKed bytes,
/// above a sequence number), §4. SACKed data is kept until cumulatively acknowledged (RFC 2018 §8: receivers may renege).
/// Only nearby sequence numbers are compared (all ranges lie in [SND.UNA, SND.MAX]).</remarks>
internal sealed class SackScoreboard
{
    private readonly SeqNumber[] _start;
    private readonly SeqNumber[] _end;
    private int _count;

    public SackScoreboard(int capacity)
    {
        _start = new SeqNumber[capacity];
        _end = new SeqNumber[capacity];
    }

    public int Count => _count;

    public SeqNumber GetStart(int index) => _start[index];

    public SeqNumber GetEnd(int index) => _end[index];

    /// <summary>Highest SACKed sequence number (one past), or <paramref name="sndUna"/> when nothing is SACKed.</summary>
    public SeqNumber HighSacked(SeqNumber sndUna) => _count == 0 ? sndUna : _end[_count - 1];

    public void Clear() => _count = 0;

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
        if (_count == _start.Length)
        {
            // Full: forget the highest range (the least useful for recovery) unless the new one is higher still.
            if (i == _count) return;
            _count--;
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
