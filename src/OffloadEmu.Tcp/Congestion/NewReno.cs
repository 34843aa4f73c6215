using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Congestion;

/// <summary>NewReno congestion control: slow start, congestion avoidance, fast recovery with partial-ACK deflation.</summary>
/// <remarks>RFC 5681 §3.1–3.2 (windows), RFC 6582 §3.2 (partial ACKs, full ACK exit with min(ssthresh, FlightSize + SMSS)),
/// RFC 3465 not used: slow start grows by min(acked, SMSS) per ACK as RFC 5681 (3.2) allows; HyStart++ (RFC 9406) in the
/// initial slow start when <see cref="TcpConfig.HyStart"/> is on.</remarks>
public sealed class NewReno : ICongestionControl
{
    private int _mss = 536;
    private uint _cwnd;
    private uint _ssThresh = uint.MaxValue;
    // Bytes acknowledged in congestion avoidance since CWnd last grew (RFC 5681 §3.1, equation 3 alternative).
    private uint _bytesAcked;
    private HyStartPlusPlus _hyStart;

    /// <inheritdoc/>
    public uint CWnd => _cwnd;

    /// <inheritdoc/>
    public uint SsThresh => _ssThresh;

    /// <inheritdoc/>
    public void Reset(int mss, uint cwnd, uint ssThresh)
    {
        _mss = mss;
        _cwnd = cwnd;
        _ssThresh = ssThresh;
        _bytesAcked = 0;
        _hyStart.Reset();
    }

    /// <summary>In HyStart++ Conservative Slow Start (RFC 9406 §4.2).</summary>
    public bool InConservativeSlowStart => _hyStart.InCss;

    /// <summary>HyStart++ rounds counted since the initial slow start began (0 in the first round).</summary>
    public int HyStartRounds => _hyStart.Rounds;

    /// <inheritdoc/>
    public void OnSlowStartAck(SeqNumber ack, SeqNumber sndNxt, long rttMicroseconds)
    {
        if (_ssThresh != uint.MaxValue || _cwnd >= _ssThresh) return; // only the initial slow start (RFC 9406 §4.3)
        if (_hyStart.OnAck(ack, sndNxt, rttMicroseconds)) _ssThresh = _cwnd;
    }

    /// <inheritdoc/>
    public void OnAck(int ackedBytes, Instant now, TimeSpan srtt)
    {
        if (_cwnd < _ssThresh)
        {
            int growth = Math.Min(ackedBytes, _mss);
            if (_hyStart.InCss) growth /= HyStartPlusPlus.CssGrowthDivisor;
            _cwnd = SaturatingAdd(_cwnd, (uint)growth);
            return;
        }
        _bytesAcked += (uint)ackedBytes;
        if (_bytesAcked >= _cwnd)
        {
            _bytesAcked -= _cwnd;
            _cwnd = SaturatingAdd(_cwnd, (uint)_mss);
        }
    }

    /// <inheritdoc/>
    public void OnEnterRecovery(uint flightSize, Instant now)
    {
        _hyStart.Stop();
        _ssThresh = Math.Max(flightSize / 2, 2u * (uint)_mss);
        _cwnd = _ssThresh + 3u * (uint)_mss;
        _bytesAcked = 0;
    }

    /// <inheritdoc/>
    public void OnDuplicateAckInRecovery() => _cwnd = SaturatingAdd(_cwnd, (uint)_mss);

    /// <inheritdoc/>
    public void OnPartialAck(int ackedBytes)
    {
        // Deflate by the amount acknowledged, then add back one SMSS if at least that much left the network.
        _cwnd = _cwnd > (uint)ackedBytes ? _cwnd - (uint)ackedBytes : (uint)_mss;
        if (ackedBytes >= _mss) _cwnd = SaturatingAdd(_cwnd, (uint)_mss);
    }

    /// <inheritdoc/>
    public void OnExitRecovery(uint flightSize) => _cwnd = Math.Min(_ssThresh, flightSize + (uint)_mss);

    /// <inheritdoc/>
    public void OnRetransmitTimeout(uint flightSize)
    {
        _hyStart.Stop();
        _ssThresh = Math.Max(flightSize / 2, 2u * (uint)_mss);
        _cwnd = (uint)_mss;
        _bytesAcked = 0;
    }

    /// <inheritdoc/>
    public void OnRestartAfterIdle(uint restartWindow) => _cwnd = Math.Min(_cwnd, restartWindow);

    /// <inheritdoc/>
    public void UndoReduction(uint cwnd, uint ssThresh)
    {
        _cwnd = Math.Max(_cwnd, cwnd);
        _ssThresh = Math.Max(_ssThresh, ssThresh);
        _bytesAcked = 0;
    }

    private static uint SaturatingAdd(uint a, uint b) => a > uint.MaxValue - b ? uint.MaxValue : a + b;
}
