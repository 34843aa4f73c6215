namespace OffloadEmu.Chimney.State;

/// <summary>The constant variables of an offloaded TCP connection (TCP_OFFLOAD_STATE_CONST).</summary>
/// <remarks>
/// Chimney spec §2: fixed at the handshake, never changed, not returned at terminate. Ports are host-order values.
/// Window scale shifts are 4-bit fields; RFC 7323 §2.3 caps them at 14, which the init accessors enforce.
/// </remarks>
public readonly record struct TcpConstState
{
    private readonly byte _sndWindScale;
    private readonly byte _rcvWindScale;

    /// <summary>Largest window scale shift RFC 7323 allows.</summary>
    public const byte MaxWindScale = 14;

    /// <summary>Options negotiated in the handshake.</summary>
    public TcpConstFlags Flags { get; init; }

    /// <summary>Peer's TCP port.</summary>
    public ushort RemotePort { get; init; }

    /// <summary>Local TCP port.</summary>
    public ushort LocalPort { get; init; }

    /// <summary>Shift applied to the peer's advertised window (its window scale option), 0..14.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds 14.</exception>
    public byte SndWindScale
    {
        get => _sndWindScale;
        init => _sndWindScale = CheckScale(value, nameof(SndWindScale));
    }

    /// <summary>Shift applied to the window this end advertises (our window scale option), 0..14.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds 14.</exception>
    public byte RcvWindScale
    {
        get => _rcvWindScale;
        init => _rcvWindScale = CheckScale(value, nameof(RcvWindScale));
    }

    /// <summary>The peer's MSS option (bytes of TCP payload per segment); segments are at most min(RemoteMss, PathMtu - headers) (spec §5).</summary>
    public ushort RemoteMss { get; init; }

    /// <summary>RSS hash of the connection's 4-tuple; selects the engine loop that owns the connection.</summary>
    public uint HashValue { get; init; }

    private static byte CheckScale(byte value, string name)
        => value <= MaxWindScale
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be 0..{MaxWindScale} (RFC 7323 §2.3).");
}
