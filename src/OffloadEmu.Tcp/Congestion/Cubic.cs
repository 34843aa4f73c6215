using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Congestion;

/// <summary>CUBIC congestion control: after a congestion event the window follows W(t) = C·(t − K)³ + W_max with
/// C = 0.4 and multiplicative decrease β = 0.7, never slower than the Reno-friendly estimate; fast convergence lowers
/// W_max when the window is shrinking. Fast-recovery inflation and deflation follow NewReno so the machine's loss
/// recovery works unchanged.</summary>
/// <remarks>RFC 9438 §4.2 (window growth), §4.3 (Reno-friendly region), §4.4–4.5 (concave/convex), §4.6 (β),
/// §4.7 (fast convergence), §4.8 (timeout). Slow start is RFC 5681's with HyStart++ (RFC 9406) in the initial one when
/// <see cref="TcpConfig.HyStart"/> is on; a D-SACK undo restores cwnd, ssthresh and W_max.</remarks>
public sealed class Cubic : ICongestionControl
{
    private const double C = 0.4;
    private const double Beta = 0.7;
    // RFC 9438 §4.3: α_cubic = 3(1 − β)/(1 + β) makes the estimate match Reno's average window.
    private const double AlphaCubic = 3 * (1 - Beta) / (1 + Beta);

    private int _mss = 536;
    private uint _cwnd;
    private uint _ssThresh = uint.MaxValue;
    private double _wMax;
    // W_max before the last reduction, restored when that reduction is undone.
    private double _wMaxBeforeReduction;
    private double _k;
    private double _wEst;
    private long _epochStart = long.MinValue;
    private HyStartPlusPlus _hyStart;

    /// <inheritdoc/>
    public uint CWnd => _cwnd;

    /// <inheritdoc/>
    public uint SsThresh => _ssThresh;

    /// <summary>W_max in segments (the window at the last congestion event, after fast convergence).</summary>
    public double WMax => _wMax;

    /// <summary>K in seconds: the time the cubic function takes to climb back to W_max.</summary>
    public double K => _k;

    /// <inheritdoc/>
    public void Reset(int mss, uint cwnd, uint ssThresh)
    {
        _mss = mss;
        _cwnd = cwnd;
        _ssThresh = ssThresh;
        _wMax = 0;
        _epochStart = long.MinValue;
        _hyStart.Reset();
    }

    /// <summary>In HyStart++ Conservative Slow Start (RFC 9406 §4.2).</summary>
    public bool InConservativeSlowStart => _hyStart.InCss;

    /// <summary>HyStart++ rounds counted since the initial slow start began (0 in the first round).</summary>
    public int HyStartRounds => _hyStart.Rounds;

    /// <inheritdoc/>
    public void OnSlowStartAck(SeqNumber ack, SeqNumber sndNxt, long rttMicroseconds)
    {
        // Only the initial slow start (RFC 9406 §4.3). Leaving it, CUBIC's first epoch starts with W_max = cwnd, K = 0
        // (RFC 9438 §4.10).
        if (_ssThresh != uint.MaxValue || _cwnd >= _ssThresh) return;
        if (_hyStart.OnAck(ack, sndNxt, rttMicroseconds)) _ssThresh = _cwnd;
    }

    /// <inheritdoc/>
    public void OnAck(int ackedBytes, Instant now, TimeSpan srtt)
    {
        if (_cwnd < _ssThresh)
        {
            int growth = Math.Min(ackedBytes, _mss);
            if (_hyStart.InCss) growth /= HyStartPlusPlus.CssGrowthDivisor;
            _cwnd = Add(_cwnd, growth);
            return;
        }
        double cwnd = (double)_cwnd / _mss;
        if (_epochStart == long.MinValue)
        {
            // A new congestion-avoidance epoch (RFC 9438 §4.2): K from the distance to W_max.
            _epochStart = now.Microseconds;
            if (_wMax <= cwnd)
            {
                _k = 0;
                _wMax = cwnd;
            }
            else
            {
                _k = Math.Cbrt((_wMax - cwnd) / C);
            }
            _wEst = cwnd;
        }
        double segmentsAcked = (double)ackedBytes / _mss;
        _wEst += AlphaCubic * segmentsAcked / cwnd;
        double t = (now.Microseconds - _epochStart + srtt.Ticks / 10) / 1e6;
        double target = C * Math.Pow(t - _k, 3) + _wMax;
        target = Math.Clamp(target, cwnd, 1.5 * cwnd);
        double next = target < _wEst
            ? _wEst                                                      // Reno-friendly region (§4.3)
            : cwnd + (target - cwnd) / cwnd * segmentsAcked;             // concave or convex region (§4.4, §4.5)
        _cwnd = (uint)Math.Min(uint.MaxValue, Math.Max(next * _mss, _cwnd));
    }

    /// <inheritdoc/>
    public void OnEnterRecovery(uint flightSize, Instant now)
    {
        Reduce();
        _cwnd = Add(_ssThresh, 3 * _mss);
    }

    /// <inheritdoc/>
    public void OnDuplicateAckInRecovery() => _cwnd = Add(_cwnd, _mss);

    /// <inheritdoc/>
    public void OnPartialAck(int ackedBytes)
    {
        _cwnd = _cwnd > (uint)ackedBytes ? _cwnd - (uint)ackedBytes : (uint)_mss;
        if (ackedBytes >= _mss) _cwnd = Add(_cwnd, _mss);
    }

    /// <inheritdoc/>
    public void OnExitRecovery(uint flightSize) => _cwnd = Math.Max(Math.Min(_ssThresh, flightSize + (uint)_mss), (uint)_mss);

    /// <inheritdoc/>
    public void OnRetransmitTimeout(uint flightSize)
    {
        Reduce();
        _cwnd = (uint)_mss;
    }

    /// <inheritdoc/>
    public void OnRestartAfterIdle(uint restartWindow)
    {
        _cwnd = Math.Min(_cwnd, restartWindow);
        _epochStart = long.MinValue;
    }

    // The congestion event (RFC 9438 §4.6–4.7): remember W_max (lowered by fast convergence when the window shrank
    // since the last event), ssthresh = β·cwnd, and start a new epoch at the next ACK.
    private void Reduce()
    {
        _hyStart.Stop();
        double cwnd = (double)_cwnd / _mss;
        _wMaxBeforeReduction = _wMax;
        _wMax = cwnd < _wMax ? cwnd * (1 + Beta) / 2 : cwnd;
        _ssThresh = (uint)Math.Max(_cwnd * Beta, 2.0 * _mss);
        _epochStart = long.MinValue;
    }

    /// <inheritdoc/>
    public void UndoReduction(uint cwnd, uint ssThresh)
    {
        _cwnd = Math.Max(_cwnd, cwnd);
        _ssThresh = Math.Max(_ssThresh, ssThresh);
        _wMax = _wMaxBeforeReduction;
        _epochStart = long.MinValue;
    }

    private static uint Add(uint a, int b) => a > uint.MaxValue - (uint)b ? uint.MaxValue : a + (uint)b;
}
