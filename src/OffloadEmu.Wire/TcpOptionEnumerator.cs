namespace OffloadEmu.Wire;

/// <summary>
/// Walks the options area in wire order, yielding every option including NOPs, unknown kinds and a final EOL,
/// so that a formatter can print them as tcpdump does. Usable with <c>foreach</c>; allocation-free.
/// </summary>
/// <remarks>
/// Enumeration stops after an EOL (the rest is padding, RFC 9293 §3.2 MUST-69) or at the first option whose
/// framing is illegal (no length byte, length 0 or 1, or running past the header — MUST-7, MUST-68); in the
/// latter case <see cref="Error"/> is <see cref="WireError.BadOption"/> and <see cref="ErrorOffset"/> says where
/// (tcpdump prints <c>[bad opt]</c> there). Options may start at any offset (MUST-64).
/// </remarks>
public ref struct TcpOptionEnumerator
{
    private readonly ReadOnlySpan<byte> _options;
    private int _next;
    private TcpOption _current;

    /// <summary>Creates an enumerator over an options area (the header bytes after the fixed 20).</summary>
    public TcpOptionEnumerator(ReadOnlySpan<byte> options)
    {
        _options = options;
        _next = 0;
        _current = default;
        Error = WireError.None;
        ErrorOffset = -1;
    }

    /// <summary>The option at the current position.</summary>
    public readonly TcpOption Current => _current;

    /// <summary><see cref="WireError.BadOption"/> once enumeration stopped on a malformed option, otherwise <see cref="WireError.None"/>.</summary>
    public WireError Error { get; private set; }

    /// <summary>Offset of the malformed option's kind byte, or -1.</summary>
    public int ErrorOffset { get; private set; }

    /// <summary>Returns this enumerator (enables <c>foreach</c>).</summary>
    public readonly TcpOptionEnumerator GetEnumerator() => this;

    /// <summary>Advances to the next option; false at the end, after EOL, or on a malformed option.</summary>
    public bool MoveNext()
    {
        int i = _next;
        if (i >= _options.Length) return false;
        byte kind = _options[i];
        if (kind == (byte)TcpOptionKind.EndOfList)
        {
            _current = new TcpOption(kind, i, 1, default);
            _next = _options.Length;
            return true;
        }
        if (kind == (byte)TcpOptionKind.Nop)
        {
            _current = new TcpOption(kind, i, 1, default);
            _next = i + 1;
            return true;
        }
        if (i + 1 >= _options.Length) return Fail(i);
        int length = _options[i + 1];
        if (length < 2 || length > _options.Length - i) return Fail(i);
        _current = new TcpOption(kind, i, length, _options.Slice(i + 2, length - 2));
        _next = i + length;
        return true;
    }

    private bool Fail(int offset)
    {
        Error = WireError.BadOption;
        ErrorOffset = offset;
        _next = _options.Length;
        return false;
    }
}
