namespace OffloadEmu.Wire;

/// <summary>One SACK block: the left edge and the right edge (one past the last byte) of a received island.</summary>
/// <remarks>RFC 2018 §3.</remarks>
public readonly struct SackBlock : IEquatable<SackBlock>
{
    /// <summary>Creates a block from its two edges.</summary>
    public SackBlock(SeqNumber start, SeqNumber end)
    {
        Start = start;
        End = end;
    }

    /// <summary>Left edge: the first sequence number of the block.</summary>
    public SeqNumber Start { get; }

    /// <summary>Right edge: the sequence number immediately following the last one of the block.</summary>
    public SeqNumber End { get; }

    /// <inheritdoc/>
    public bool Equals(SackBlock other) => Start == other.Start && End == other.End;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is SackBlock b && Equals(b);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Start.Value, End.Value);

    /// <summary>Equality.</summary>
    public static bool operator ==(SackBlock a, SackBlock b) => a.Equals(b);

    /// <summary>Inequality.</summary>
    public static bool operator !=(SackBlock a, SackBlock b) => !a.Equals(b);

    /// <summary>"{start:end}" as tcpdump prints a block.</summary>
    public override string ToString() => $"{{{Start}:{End}}}";
}
