namespace OffloadEmu.Wire;

/// <summary>The contents of a Timestamps option: the sender's clock value and the echoed one.</summary>
/// <remarks>RFC 7323 §3.2.</remarks>
public readonly struct TcpTimestamps : IEquatable<TcpTimestamps>
{
    /// <summary>Creates a timestamp pair.</summary>
    public TcpTimestamps(uint tsVal, uint tsEcr)
    {
        TsVal = tsVal;
        TsEcr = tsEcr;
    }

    /// <summary>TSval: the sender's timestamp clock.</summary>
    public uint TsVal { get; }

    /// <summary>TSecr: the most recent TSval received from the peer (meaningful only with ACK).</summary>
    public uint TsEcr { get; }

    /// <inheritdoc/>
    public bool Equals(TcpTimestamps other) => TsVal == other.TsVal && TsEcr == other.TsEcr;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TcpTimestamps t && Equals(t);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(TsVal, TsEcr);

    /// <summary>Equality.</summary>
    public static bool operator ==(TcpTimestamps a, TcpTimestamps b) => a.Equals(b);

    /// <summary>Inequality.</summary>
    public static bool operator !=(TcpTimestamps a, TcpTimestamps b) => !a.Equals(b);

    /// <summary>"TS val X ecr Y" as tcpdump prints it.</summary>
    public override string ToString() => $"TS val {TsVal} ecr {TsEcr}";
}
