using System.Buffers;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>
/// IPv4 reassembly for the non-offload path (RFC 791 §3.2, RFC 815): fragments are collected per (source, destination,
/// protocol, identification) in a pooled buffer until the datagram is whole. Hostile input is bounded: at most
/// <see cref="MaxDatagrams"/> datagrams and <see cref="MaxBufferedBytes"/> bytes in progress (the oldest datagram is
/// dropped to make room), each for at most <see cref="Timeout"/>; a fragment that overlaps bytes already held with
/// different content drops the whole datagram (as Linux does since FragmentSmack, and RFC 5722 for IPv6); exact
/// duplicates are ignored. Every drop is counted.
/// </summary>
internal sealed class Ipv4Reassembler
{
    public const int MaxDatagrams = 64;
    public const int MaxBufferedBytes = 1 << 20;
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int MaxRanges = 64;

    private readonly List<Datagram> _datagrams = [];
    private int _bufferedBytes;

    /// <summary>Datagrams completed.</summary>
    public long Reassembled { get; private set; }
    /// <summary>Datagrams given up: timed out, overlapping, malformed fragments, or pushed out by the limits.</summary>
    public long Dropped { get; private set; }
    /// <summary>Datagrams in progress.</summary>
    public int InProgress => _datagrams.Count;
    /// <summary>The earliest instant a datagram in progress times out (MaxValue: none).</summary>
    public Instant NextExpiry { get; private set; } = Instant.MaxValue;

    private sealed class Datagram
    {
        public Ipv4Address Source, Destination;
        public IpProtocol Protocol;
        public ushort Id;
        public byte[] Buffer = [];
        public int TotalLength = -1;       // known once the last fragment (MF = 0) arrived
        public readonly (int Start, int End)[] Ranges = new (int, int)[MaxRanges];
        public int RangeCount;
        public Instant Expires;
        public byte TimeToLive;

        public bool Matches(in Ipv4Repr ip) => ip.Identification == Id && ip.Protocol == Protocol && ip.Source == Source && ip.Destination == Destination;
    }

    /// <summary>Adds one fragment. When it completes its datagram, returns true with the whole payload in a pooled
    /// buffer (<paramref name="datagram"/>, <paramref name="length"/> bytes) that the caller hands back with
    /// <see cref="Return"/>, and the header of the whole datagram.</summary>
    public bool Add(in Ipv4Repr ip, ReadOnlySpan<byte> payload, Instant now, out byte[] datagram, out int length, out Ipv4Repr whole)
    {
        datagram = [];
        length = 0;
        whole = default;
        int start = ip.FragmentOffset, end = start + payload.Length;
        // Every fragment but the last carries a multiple of 8 bytes; nothing goes past 65535 − 20.
        if ((ip.MoreFragments && (payload.Length & 7) != 0) || end > ushort.MaxValue - Ipv4Packet.MinHeaderLength || (payload.Length == 0 && ip.MoreFragments))
        {
            Dropped++;
            return false;
        }
        Expire(now);
        var d = Find(ip);
        if (d is null)
        {
            while (_datagrams.Count >= MaxDatagrams) Discard(0);
            d = new Datagram { Source = ip.Source, Destination = ip.Destination, Protocol = ip.Protocol, Id = ip.Identification, Expires = now + Timeout };
            _datagrams.Add(d);
            UpdateNextExpiry();
        }
        if (!ip.MoreFragments)
        {
            if ((d.TotalLength >= 0 && d.TotalLength != end) || HeldBeyond(d, end))
            {
                Discard(_datagrams.IndexOf(d));   // two different ends: inconsistent
                return false;
            }
            d.TotalLength = end;
        }
        else if (d.TotalLength >= 0 && end > d.TotalLength)
        {
            Discard(_datagrams.IndexOf(d));
            return false;
        }
        if (start == 0) d.TimeToLive = ip.TimeToLive;
        switch (Overlap(d, start, end, payload))
        {
            case OverlapKind.Duplicate:
                break;
            case OverlapKind.Conflict:
                Discard(_datagrams.IndexOf(d));
                return false;
            case OverlapKind.None:
                if (!Store(d, start, end, payload)) return false;
                break;
        }
        if (d.TotalLength < 0 || d.RangeCount != 1 || d.Ranges[0].Start != 0 || d.Ranges[0].End != d.TotalLength) return false;

        // Whole: hand the buffer over.
        int index = _datagrams.IndexOf(d);
        _datagrams.RemoveAt(index);
        _bufferedBytes -= d.Buffer.Length;
        UpdateNextExpiry();
        Reassembled++;
        datagram = d.Buffer;
        length = d.TotalLength;
        whole = new Ipv4Repr(d.Source, d.Destination, d.Protocol, d.TotalLength, d.TimeToLive, d.Id);
        return true;
    }

    /// <summary>Gives back a buffer returned by <see cref="Add"/>.</summary>
    public static void Return(byte[] buffer)
    {
        if (buffer.Length > 0) ArrayPool<byte>.Shared.Return(buffer);
    }

    /// <summary>Drops the datagrams whose time is up (RFC 1122 §3.3.2; no ICMP time-exceeded is sent).</summary>
    public int Expire(Instant now)
    {
        if (now < NextExpiry) return 0;
        int n = 0;
        for (int i = _datagrams.Count - 1; i >= 0; i--)
        {
            if (_datagrams[i].Expires > now) continue;
            Discard(i);
            n++;
        }
        return n;
    }

    private Datagram? Find(in Ipv4Repr ip)
    {
        foreach (var d in _datagrams)
            if (d.Matches(ip)) return d;
        return null;
    }

    private static bool HeldBeyond(Datagram d, int end)
        => d.RangeCount > 0 && d.Ranges[d.RangeCount - 1].End > end;

    private enum OverlapKind { None, Duplicate, Conflict }

    private static OverlapKind Overlap(Datagram d, int start, int end, ReadOnlySpan<byte> payload)
    {
        bool any = false;
        for (int i = 0; i < d.RangeCount; i++)
        {
            var (s, e) = d.Ranges[i];
            int from = Math.Max(s, start), to = Math.Min(e, end);
            if (from >= to) continue;
            any = true;
            if (!d.Buffer.AsSpan(from, to - from).SequenceEqual(payload.Slice(from - start, to - from))) return OverlapKind.Conflict;
            if (from != start || to != end) return OverlapKind.Conflict;   // a partial overlap, even with equal bytes
        }
        return any ? OverlapKind.Duplicate : OverlapKind.None;
    }

    private bool Store(Datagram d, int start, int end, ReadOnlySpan<byte> payload)
    {
        if (d.Buffer.Length < end)
        {
            int size = Math.Max(end, d.TotalLength > 0 ? d.TotalLength : 0);
            if (_bufferedBytes - d.Buffer.Length + size > MaxBufferedBytes)
            {
                // Make room by dropping the oldest others; if this one alone is too big, drop it.
                for (int i = 0; i < _datagrams.Count && _bufferedBytes - d.Buffer.Length + size > MaxBufferedBytes;)
                {
                    if (ReferenceEquals(_datagrams[i], d)) { i++; continue; }
                    Discard(i);
                }
                if (_bufferedBytes - d.Buffer.Length + size > MaxBufferedBytes)
                {
                    Discard(_datagrams.IndexOf(d));
                    return false;
                }
            }
            var bigger = ArrayPool<byte>.Shared.Rent(size);
            d.Buffer.AsSpan().CopyTo(bigger);
            _bufferedBytes += bigger.Length - d.Buffer.Length;
            Return(d.Buffer);
            d.Buffer = bigger;
        }
        payload.CopyTo(d.Buffer.AsSpan(start));
        // Insert [start, end) into the sorted, disjoint ranges, merging neighbours that touch it.
        int at = 0;
        while (at < d.RangeCount && d.Ranges[at].End < start) at++;
        int mergeEnd = at;
        int newStart = start, newEnd = end;
        while (mergeEnd < d.RangeCount && d.Ranges[mergeEnd].Start <= end)
        {
            newStart = Math.Min(newStart, d.Ranges[mergeEnd].Start);
            newEnd = Math.Max(newEnd, d.Ranges[mergeEnd].End);
            mergeEnd++;
        }
        int removed = mergeEnd - at;
        if (removed == 0 && d.RangeCount == MaxRanges)
        {
            Discard(_datagrams.IndexOf(d));   // too many holes: an attacker's pattern, not a real sender's
            return false;
        }
        if (removed == 0)
        {
            Array.Copy(d.Ranges, at, d.Ranges, at + 1, d.RangeCount - at);
            d.RangeCount++;
        }
        else if (removed > 1)
        {
            Array.Copy(d.Ranges, mergeEnd, d.Ranges, at + 1, d.RangeCount - mergeEnd);
            d.RangeCount -= removed - 1;
        }
        d.Ranges[at] = (newStart, newEnd);
        return true;
    }

    private void Discard(int index)
    {
        var d = _datagrams[index];
        _datagrams.RemoveAt(index);
        _bufferedBytes -= d.Buffer.Length;
        Return(d.Buffer);
        Dropped++;
        UpdateNextExpiry();
    }

    private void UpdateNextExpiry()
    {
        var next = Instant.MaxValue;
        foreach (var d in _datagrams) next = Instant.Min(next, d.Expires);
        NextExpiry = next;
    }
}
