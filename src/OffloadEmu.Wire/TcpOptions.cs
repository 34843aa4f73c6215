using System.Buffers.Binary;
using System.Text;

namespace OffloadEmu.Wire;

/// <summary>
/// The TCP options of one segment as a fixed-size value: no arrays, nothing allocated. Parsed with
/// <see cref="TryParse(ReadOnlySpan{byte}, out TcpOptions, out WireError)"/>, written with <see cref="Emit"/>.
/// Build one with an object initializer and <see cref="WithSackBlocks"/>.
/// </summary>
/// <remarks>
/// <para>Parsing (RFC 9293 §3.2 and §3.7.1): EOL, NOP and MSS are understood (MUST-4) in any segment (MUST-5) and at
/// any byte offset (MUST-64); kinds not understood are skipped by their length (MUST-6, MUST-68); bytes after an EOL
/// are padding and ignored (MUST-69). An illegal length — missing, 0, 1, past the header, or wrong for a known kind
/// (MSS ≠ 4, window scale ≠ 3, SACK-permitted ≠ 2, timestamps ≠ 10, SACK not 2 + 8n with n ≥ 1) — is reported as
/// <see cref="WireError.BadOption"/>, never thrown (MUST-7); the caller decides (RFC 9293 suggests reset and log).</para>
/// <para>Decisions: a repeated option overwrites the earlier one (as Linux does); a well-formed SACK option with more
/// than four blocks keeps the first four (RFC 2018 §3: 40 bytes of option space hold at most four); the window-scale
/// shift is stored as received, the clamp to 14 (RFC 7323 §2.3) is the TCP machine's business.</para>
/// <para>Equality compares option values only (MSS, window scale, SACK-permitted, timestamps, SACK blocks), not the
/// layout diagnostics <see cref="NopCount"/>, <see cref="UnknownCount"/> and <see cref="EndOfListSeen"/>, so that
/// parse(emit(x)) == x.</para>
/// </remarks>
public readonly struct TcpOptions : IEquatable<TcpOptions>
{
    /// <summary>Room for options in a TCP header: data offset 15 words minus the fixed 5 (RFC 9293 §3.1).</summary>
    public const int MaxLength = 40;

    /// <summary>Most SACK blocks one option can carry (RFC 2018 §3).</summary>
    public const int MaxSackBlocks = 4;

    // The blocks live inline so that the value stays allocation-free and copyable.
    private readonly SackBlock _sack0, _sack1, _sack2, _sack3;
    private readonly byte _sackCount;

    private TcpOptions(ushort? mss, byte? windowScale, bool sackPermitted, TcpTimestamps? timestamps,
        SackBlock s0, SackBlock s1, SackBlock s2, SackBlock s3, int sackCount, int nopCount, int unknownCount, bool eolSeen)
    {
        MaxSegmentSize = mss;
        WindowScale = windowScale;
        SackPermitted = sackPermitted;
        Timestamps = timestamps;
        _sack0 = s0;
        _sack1 = s1;
        _sack2 = s2;
        _sack3 = s3;
        _sackCount = (byte)sackCount;
        NopCount = nopCount;
        UnknownCount = unknownCount;
        EndOfListSeen = eolSeen;
    }

    /// <summary>Maximum segment size the sender can receive (RFC 9293 §3.7.1); only ever sent in SYNs (MUST-65).</summary>
    public ushort? MaxSegmentSize { get; init; }

    /// <summary>Window-scale shift count (RFC 7323 §2.2), as received (may exceed 14).</summary>
    public byte? WindowScale { get; init; }

    /// <summary>SACK-permitted option present (RFC 2018 §2).</summary>
    public bool SackPermitted { get; init; }

    /// <summary>Timestamps option (RFC 7323 §3.2).</summary>
    public TcpTimestamps? Timestamps { get; init; }

    /// <summary>Number of SACK blocks held (0–4).</summary>
    public int SackBlockCount => _sackCount;

    /// <summary>Number of NOP options the parser stepped over.</summary>
    public int NopCount { get; private init; }

    /// <summary>Number of options of kinds this codec does not interpret that the parser skipped.</summary>
    public int UnknownCount { get; private init; }

    /// <summary>True when the parser stopped at an End-of-Option-List.</summary>
    public bool EndOfListSeen { get; private init; }

    /// <summary>The SACK block at <paramref name="index"/> (0 ≤ index &lt; <see cref="SackBlockCount"/>), in wire order.</summary>
    public SackBlock GetSackBlock(int index)
    {
        if ((uint)index >= _sackCount) TcpThrowHelper.ThrowSackIndex();
        return index switch { 0 => _sack0, 1 => _sack1, 2 => _sack2, _ => _sack3 };
    }

    /// <summary>A copy carrying <paramref name="blocks"/> as its SACK blocks (the first four if more are given).</summary>
    public TcpOptions WithSackBlocks(ReadOnlySpan<SackBlock> blocks)
    {
        int n = Math.Min(blocks.Length, MaxSackBlocks);
        return new TcpOptions(MaxSegmentSize, WindowScale, SackPermitted, Timestamps,
            n > 0 ? blocks[0] : default, n > 1 ? blocks[1] : default, n > 2 ? blocks[2] : default, n > 3 ? blocks[3] : default,
            n, NopCount, UnknownCount, EndOfListSeen);
    }

    /// <summary>A copy with the SYN-only options (MSS, window scale, SACK-permitted) removed.</summary>
    /// <remarks>RFC 9293 §3.7.1 MUST-65, RFC 7323 §2.2, RFC 2018 §2: these may only be sent in SYN segments.</remarks>
    public TcpOptions WithoutSynOnlyOptions()
        => new(null, null, false, Timestamps, _sack0, _sack1, _sack2, _sack3, _sackCount, NopCount, UnknownCount, EndOfListSeen);

    /// <summary>Parses an options area (the header bytes after the fixed 20).</summary>
    public static bool TryParse(ReadOnlySpan<byte> options, out TcpOptions parsed) => TryParse(options, out parsed, out _);

    /// <summary>Parses an options area (the header bytes after the fixed 20), reporting why it failed.</summary>
    public static bool TryParse(ReadOnlySpan<byte> options, out TcpOptions parsed, out WireError error)
    {
        // Every segment of an established connection with timestamps carries exactly NOP NOP TS(10) (RFC 7323 Appendix
        // A, what Linux and we send): read it directly; the result is what the general loop below gives.
        if (options.Length == TimestampsLength && options[0] == (byte)TcpOptionKind.Nop && options[1] == (byte)TcpOptionKind.Nop
            && options[2] == (byte)TcpOptionKind.Timestamps && options[3] == 10)
        {
            var timestamps = new TcpTimestamps(BinaryPrimitives.ReadUInt32BigEndian(options[4..]), BinaryPrimitives.ReadUInt32BigEndian(options[8..]));
            parsed = new TcpOptions(null, null, false, timestamps, default, default, default, default, 0, 2, 0, false);
            error = WireError.None;
            return true;
        }
        ushort? mss = null;
        byte? ws = null;
        bool sackPermitted = false, eol = false;
        TcpTimestamps? ts = null;
        SackBlock s0 = default, s1 = default, s2 = default, s3 = default;
        int sackCount = 0, nops = 0, unknown = 0;

        var e = new TcpOptionEnumerator(options);
        while (e.MoveNext())
        {
            var o = e.Current;
            switch (o.Kind)
            {
                case TcpOptionKind.EndOfList:
                    eol = true;
                    break;
                case TcpOptionKind.Nop:
                    nops++;
                    break;
                case TcpOptionKind.MaxSegmentSize:
                    if (!o.TryGetMaxSegmentSize(out ushort m)) goto bad;
                    mss = m;
                    break;
                case TcpOptionKind.WindowScale:
                    if (!o.TryGetWindowScale(out byte shift)) goto bad;
                    ws = shift;
                    break;
                case TcpOptionKind.SackPermitted:
                    if (o.Data.Length != 0) goto bad;
                    sackPermitted = true;
                    break;
                case TcpOptionKind.Timestamps:
                    if (!o.TryGetTimestamps(out var t)) goto bad;
                    ts = t;
                    break;
                case TcpOptionKind.Sack:
                    if (!o.TryGetSackBlockCount(out int n)) goto bad;
                    sackCount = Math.Min(n, MaxSackBlocks);
                    s0 = o.GetSackBlock(0);
                    s1 = sackCount > 1 ? o.GetSackBlock(1) : default;
                    s2 = sackCount > 2 ? o.GetSackBlock(2) : default;
                    s3 = sackCount > 3 ? o.GetSackBlock(3) : default;
                    break;
                default:
                    unknown++;
                    break;
            }
        }
        if (e.Error != WireError.None) goto bad;

        parsed = new TcpOptions(mss, ws, sackPermitted, ts, s0, s1, s2, s3, sackCount, nops, unknown, eol);
        error = WireError.None;
        return true;

    bad:
        parsed = default;
        error = WireError.BadOption;
        return false;
    }

    /// <summary>Returns an enumerator over the raw options of <paramref name="options"/> in wire order.</summary>
    public static TcpOptionEnumerator Enumerate(ReadOnlySpan<byte> options) => new(options);

    // Linux's tcp_options_write layout: every option group is padded with leading NOPs to a 4-byte boundary.
    private const int MssLength = 4;          // kind, len, mss(2)
    private const int TimestampsLength = 12;  // NOP NOP TS(10), or SACK_PERM(2) TS(10) when both go in a SYN
    private const int SackPermittedLength = 4; // NOP NOP SACK_PERM(2), when no timestamps to pair with
    private const int WindowScaleLength = 4;  // NOP WS(3)
    private const int SackHeaderLength = 4;   // NOP NOP kind len
    private const int SackBlockLength = 8;

    private int LengthWithoutSackBlocks
        => (MaxSegmentSize.HasValue ? MssLength : 0)
           + (Timestamps.HasValue ? TimestampsLength : SackPermitted ? SackPermittedLength : 0)
           + (WindowScale.HasValue ? WindowScaleLength : 0);

    /// <summary>How many SACK blocks <see cref="Emit"/> writes: as many as fit in the 40 bytes left by the other options.</summary>
    /// <remarks>RFC 2018 §3: with timestamps at most three blocks fit; Linux trims the same way.</remarks>
    public int EmittedSackBlockCount
    {
        get
        {
            if (_sackCount == 0) return 0;
            int room = MaxLength - LengthWithoutSackBlocks - SackHeaderLength;
            return room < SackBlockLength ? 0 : Math.Min(_sackCount, room / SackBlockLength);
        }
    }

    /// <summary>Bytes <see cref="Emit"/> writes: a multiple of 4, never more than <see cref="MaxLength"/> (the other options
    /// take at most 20 bytes and SACK blocks are trimmed to the rest). Computed without emitting.</summary>
    public int EmittedLength
    {
        get
        {
            int blocks = EmittedSackBlockCount;
            return LengthWithoutSackBlocks + (blocks > 0 ? SackHeaderLength + blocks * SackBlockLength : 0);
        }
    }

    /// <summary>Writes the options in Linux's order and padding (<c>mss,sackOK,TS,nop,wscale</c> in a SYN;
    /// <c>nop,nop,TS,nop,nop,sack</c> on data) and returns the bytes written (<see cref="EmittedLength"/>).</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="EmittedLength"/>.</exception>
    public int Emit(Span<byte> destination)
    {
        if (!TryEmit(destination, out int written)) TcpThrowHelper.ThrowDestinationTooSmall();
        return written;
    }

    /// <summary>Writes the options as <see cref="Emit"/> does; false (nothing written) when <paramref name="destination"/> is too short.</summary>
    public bool TryEmit(Span<byte> destination, out int written)
    {
        int length = EmittedLength;
        written = 0;
        if (destination.Length < length) return false;
        var d = destination[..length];
        int i = 0;
        if (MaxSegmentSize is ushort mss)
        {
            d[i] = (byte)TcpOptionKind.MaxSegmentSize;
            d[i + 1] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(d[(i + 2)..], mss);
            i += 4;
        }
        if (Timestamps is TcpTimestamps ts)
        {
            if (SackPermitted)
            {
                d[i] = (byte)TcpOptionKind.SackPermitted;
                d[i + 1] = 2;
            }
            else
            {
                d[i] = (byte)TcpOptionKind.Nop;
                d[i + 1] = (byte)TcpOptionKind.Nop;
            }
            d[i + 2] = (byte)TcpOptionKind.Timestamps;
            d[i + 3] = 10;
            BinaryPrimitives.WriteUInt32BigEndian(d[(i + 4)..], ts.TsVal);
            BinaryPrimitives.WriteUInt32BigEndian(d[(i + 8)..], ts.TsEcr);
            i += 12;
        }
        else if (SackPermitted)
        {
            d[i] = (byte)TcpOptionKind.Nop;
            d[i + 1] = (byte)TcpOptionKind.Nop;
            d[i + 2] = (byte)TcpOptionKind.SackPermitted;
            d[i + 3] = 2;
            i += 4;
        }
        if (WindowScale is byte shift)
        {
            d[i] = (byte)TcpOptionKind.Nop;
            d[i + 1] = (byte)TcpOptionKind.WindowScale;
            d[i + 2] = 3;
            d[i + 3] = shift;
            i += 4;
        }
        int blocks = EmittedSackBlockCount;
        if (blocks > 0)
        {
            d[i] = (byte)TcpOptionKind.Nop;
            d[i + 1] = (byte)TcpOptionKind.Nop;
            d[i + 2] = (byte)TcpOptionKind.Sack;
            d[i + 3] = (byte)(2 + blocks * SackBlockLength);
            i += 4;
            for (int b = 0; b < blocks; b++, i += SackBlockLength)
            {
                var block = GetSackBlock(b);
                BinaryPrimitives.WriteUInt32BigEndian(d[i..], block.Start.Value);
                BinaryPrimitives.WriteUInt32BigEndian(d[(i + 4)..], block.End.Value);
            }
        }
        written = i;
        return true;
    }

    /// <inheritdoc/>
    public bool Equals(TcpOptions other)
    {
        if (MaxSegmentSize != other.MaxSegmentSize || WindowScale != other.WindowScale || SackPermitted != other.SackPermitted
            || !Nullable.Equals(Timestamps, other.Timestamps) || _sackCount != other._sackCount)
            return false;
        for (int i = 0; i < _sackCount; i++)
            if (GetSackBlock(i) != other.GetSackBlock(i)) return false;
        return true;
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TcpOptions o && Equals(o);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(MaxSegmentSize);
        h.Add(WindowScale);
        h.Add(SackPermitted);
        h.Add(Timestamps);
        for (int i = 0; i < _sackCount; i++) h.Add(GetSackBlock(i));
        return h.ToHashCode();
    }

    /// <summary>Equality of option values.</summary>
    public static bool operator ==(TcpOptions a, TcpOptions b) => a.Equals(b);

    /// <summary>Inequality of option values.</summary>
    public static bool operator !=(TcpOptions a, TcpOptions b) => !a.Equals(b);

    /// <summary>A diagnostic rendering of the values (not wire order; use <see cref="Enumerate"/> for that).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("[");
        if (MaxSegmentSize is ushort mss) sb.Append("mss ").Append(mss).Append(',');
        if (SackPermitted) sb.Append("sackOK,");
        if (Timestamps is TcpTimestamps ts) sb.Append(ts.ToString()).Append(',');
        if (WindowScale is byte ws) sb.Append("wscale ").Append(ws).Append(',');
        if (_sackCount > 0)
        {
            sb.Append("sack ").Append(_sackCount).Append(' ');
            for (int i = 0; i < _sackCount; i++) sb.Append(GetSackBlock(i).ToString());
            sb.Append(',');
        }
        if (sb.Length > 1) sb.Length--;
        return sb.Append(']').ToString();
    }
}
