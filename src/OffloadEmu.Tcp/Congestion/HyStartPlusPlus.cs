using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Congestion;

/// <summary>HyStart++ (RFC 9406): leaves the initial slow start when the round trip time grows, through a Conservative
/// Slow Start (CSS) phase that grows the window a quarter as fast and either returns to slow start (the rise was jitter)
/// or ends in congestion avoidance after <see cref="CssRounds"/> rounds. A value held by a congestion controller, no
/// allocation.</summary>
/// <remarks>RFC 9406 §4.2 with the recommended constants: MIN_RTT_THRESH 4 ms, MAX_RTT_THRESH 16 ms, MIN_RTT_DIVISOR 8,
/// N_RTT_SAMPLE 8, CSS_GROWTH_DIVISOR 4, CSS_ROUNDS 5. A round ends when an ACK reaches the SND.NXT recorded at its start
/// (windowEnd); the first round starts at the first ACK seen. The round in which CSS began counts as its first. Used only
/// in the initial slow start (ssthresh still unset, §4.3); a loss ends it through the controller's normal reduction.
/// Needs several RTT samples per round: the machine gives one per ACK with timestamps, one per round without them,
/// so without timestamps HyStart++ never reaches N_RTT_SAMPLE and slow start is RFC 5681's.</remarks>
internal struct HyStartPlusPlus
{
    public const long MinRttThreshMicroseconds = 4_000;
    public const long MaxRttThreshMicroseconds = 16_000;
    public const int MinRttDivisor = 8;
    public const int NRttSample = 8;
    public const int CssGrowthDivisor = 4;
    public const int CssRounds = 5;

    private bool _started;
    private SeqNumber _windowEnd;
    private long _lastRoundMinRtt;
    private long _currentRoundMinRtt;
    private int _rttSampleCount;
    private long _cssBaselineMinRtt;
    private int _cssRoundCount;

    /// <summary>In Conservative Slow Start: slow-start growth is divided by <see cref="CssGrowthDivisor"/>.</summary>
    public bool InCss { get; private set; }

    /// <summary>HyStart++ ended slow start (or was stopped); it does nothing more.</summary>
    public bool Done { get; private set; }

    /// <summary>Rounds seen since the start (for tests and diagnostics).</summary>
    public int Rounds { get; private set; }

    public void Reset()
    {
        this = default;
        _lastRoundMinRtt = long.MaxValue;
        _currentRoundMinRtt = long.MaxValue;
        _cssBaselineMinRtt = long.MaxValue;
    }

    /// <summary>Stops HyStart++ for the rest of the connection (a loss ended slow start).</summary>
    public void Stop()
    {
        Done = true;
        InCss = false;
    }

    /// <summary>An ACK of new data in slow start: <paramref name="ack"/> is the new SND.UNA, <paramref name="sndNxt"/>
    /// the highest sequence sent, <paramref name="rttMicroseconds"/> the RTT this ACK measured (negative: none). Returns
    /// true when slow start ends now (CSS_ROUNDS rounds of CSS done): the caller sets ssthresh to cwnd.</summary>
    public bool OnAck(SeqNumber ack, SeqNumber sndNxt, long rttMicroseconds)
    {
        if (Done) return false;
        if (!_started)
        {
            Reset();
            _started = true;
            _windowEnd = sndNxt;
        }
        else if (ack >= _windowEnd)
        {
            // A new round (§4.2: at the start of each round).
            Rounds++;
            _lastRoundMinRtt = _currentRoundMinRtt;
            _currentRoundMinRtt = long.MaxValue;
            _rttSampleCount = 0;
            _windowEnd = sndNxt;
            if (InCss && ++_cssRoundCount >= CssRounds)
            {
                Stop();
                return true;
            }
        }
        if (rttMicroseconds >= 0)
        {
            _currentRoundMinRtt = Math.Min(_currentRoundMinRtt, rttMicroseconds);
            _rttSampleCount++;
        }
        if (_rttSampleCount < NRttSample || _currentRoundMinRtt == long.MaxValue) return false;
        if (!InCss)
        {
            if (_lastRoundMinRtt == long.MaxValue) return false;
            long rttThresh = Math.Clamp(_lastRoundMinRtt / MinRttDivisor, MinRttThreshMicroseconds, MaxRttThreshMicroseconds);
            if (_currentRoundMinRtt >= _lastRoundMinRtt + rttThresh)
            {
                _cssBaselineMinRtt = _currentRoundMinRtt;
                InCss = true;
                _cssRoundCount = 0;
            }
        }
        else if (_currentRoundMinRtt < _cssBaselineMinRtt)
        {
            // The delay fell back below the baseline: the rise was jitter, resume slow start.
            _cssBaselineMinRtt = long.MaxValue;
            InCss = false;
        }
        return false;
    }
}
