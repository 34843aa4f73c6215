namespace OffloadEmu.Tcp;

/// <summary>Smoothed RTT, RTT variance and the retransmission timeout, in microseconds.</summary>
/// <remarks>RFC 6298 §2: first sample R gives SRTT = R, RTTVAR = R/2; later ones RTTVAR = 3/4 RTTVAR + 1/4 |SRTT − R'|,
/// SRTT = 7/8 SRTT + 1/8 R'; RTO = SRTT + max(G, 4·RTTVAR) clamped to [floor, cap]. Backoff (§5.5) doubles the RTO up to
/// the cap and is kept until the next valid sample.</remarks>
internal struct RttEstimator
{
    public long SRtt;
    public long RttVar;
    public long Rto;
    public bool HasSample;
    public long MinRto;
    public long MaxRto;
    public long Granularity;

    public RttEstimator(long initialRto, long minRto, long maxRto, long granularity)
    {
        Rto = Math.Clamp(initialRto, minRto, maxRto);
        MinRto = minRto;
        MaxRto = maxRto;
        Granularity = granularity;
    }

    public void AddSample(long rtt)
    {
        if (rtt < 0) return;
        if (!HasSample)
        {
            SRtt = rtt;
            RttVar = rtt / 2;
            HasSample = true;
        }
        else
        {
            long delta = Math.Abs(SRtt - rtt);
            RttVar = RttVar - (RttVar >> 2) + (delta >> 2);
            SRtt = SRtt - (SRtt >> 3) + (rtt >> 3);
        }
        Recompute();
    }

    public void Recompute() => Rto = Math.Clamp(SRtt + Math.Max(Granularity, 4 * RttVar), MinRto, MaxRto);

    public void Backoff() => Rto = Math.Min(Rto * 2, MaxRto);
}
