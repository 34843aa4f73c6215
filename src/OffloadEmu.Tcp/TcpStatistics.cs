namespace OffloadEmu.Tcp;

/// <summary>Counters of one connection, in the shape of the chimney <c>TCP_OFFLOAD_STATS</c> plus diagnostics the
/// tests and the owner use. Add connections together with <see cref="Add"/> for per-interface totals.</summary>
/// <remarks>Chimney spec §6.10: OutSegments excludes pure retransmissions; InErrors counts segments dropped as bad
/// (checksum, illegal options).</remarks>
public struct TcpStatistics
{
    /// <summary>Segments received (including erroneous ones).</summary>
    public ulong InSegments { get; internal set; }

    /// <summary>Segments sent, excluding those that only retransmit earlier sequence space.</summary>
    public ulong OutSegments { get; internal set; }

    /// <summary>Segments sent that retransmit earlier sequence space.</summary>
    public ulong RetransmittedSegments { get; internal set; }

    /// <summary>Segments dropped as erroneous (bad checksum, illegal option, truncated).</summary>
    public ulong InErrors { get; internal set; }

    /// <summary>RST segments sent.</summary>
    public ulong OutResets { get; internal set; }

    /// <summary>Times the connection was reset from ESTABLISHED or CLOSE-WAIT (TCP MIB tcpEstabResets).</summary>
    public ulong ResetEstablished { get; internal set; }

    /// <summary>Retransmission timer expirations.</summary>
    public ulong RetransmitTimeouts { get; internal set; }

    /// <summary>Fast retransmissions (entries into fast recovery).</summary>
    public ulong FastRetransmits { get; internal set; }

    /// <summary>Challenge ACKs sent (RFC 5961).</summary>
    public ulong ChallengeAcks { get; internal set; }

    /// <summary>Challenge ACKs suppressed by the rate limit.</summary>
    public ulong ChallengeAcksSuppressed { get; internal set; }

    /// <summary>Segments dropped by PAWS (RFC 7323 §5).</summary>
    public ulong PawsDrops { get; internal set; }

    /// <summary>Non-RST segments dropped for lacking the timestamp option on a connection that negotiated it
    /// (RFC 7323 §3.2).</summary>
    public ulong MissingTimestampDrops { get; internal set; }

    /// <summary>Out-of-order segments dropped because the reassembly bound (ranges) was reached.</summary>
    public ulong ReassemblyDrops { get; internal set; }

    /// <summary>RSTs received in TIME-WAIT and ignored (RFC 1337).</summary>
    public ulong TimeWaitResetsIgnored { get; internal set; }

    /// <summary>Received payload bytes that were already received (trimmed duplicates).</summary>
    public ulong DuplicateBytes { get; internal set; }

    /// <summary>Zero-window probes sent.</summary>
    public ulong WindowProbes { get; internal set; }

    /// <summary>Keep-alive probes sent.</summary>
    public ulong KeepAliveProbes { get; internal set; }

    /// <summary>Segments that failed the acceptability test (answered with an ACK, RFC 9293 §3.10.7.4).</summary>
    public ulong OutOfWindowSegments { get; internal set; }

    /// <summary>Fast-recovery episodes found spurious by D-SACK and undone (RFC 2883 §4).</summary>
    public ulong SpuriousRecoveries { get; internal set; }

    /// <summary>Adds <paramref name="other"/> into this total.</summary>
    public void Add(in TcpStatistics other)
    {
        InSegments += other.InSegments;
        OutSegments += other.OutSegments;
        RetransmittedSegments += other.RetransmittedSegments;
        InErrors += other.InErrors;
        OutResets += other.OutResets;
        ResetEstablished += other.ResetEstablished;
        RetransmitTimeouts += other.RetransmitTimeouts;
        FastRetransmits += other.FastRetransmits;
        ChallengeAcks += other.ChallengeAcks;
        ChallengeAcksSuppressed += other.ChallengeAcksSuppressed;
        PawsDrops += other.PawsDrops;
        MissingTimestampDrops += other.MissingTimestampDrops;
        ReassemblyDrops += other.ReassemblyDrops;
        TimeWaitResetsIgnored += other.TimeWaitResetsIgnored;
        DuplicateBytes += other.DuplicateBytes;
        WindowProbes += other.WindowProbes;
        KeepAliveProbes += other.KeepAliveProbes;
        OutOfWindowSegments += other.OutOfWindowSegments;
        SpuriousRecoveries += other.SpuriousRecoveries;
    }
}
