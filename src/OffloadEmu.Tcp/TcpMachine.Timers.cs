namespace OffloadEmu.Tcp;

public sealed partial class TcpMachine
{
    private void RunTimers(Instant now)
    {
        if (now >= _closeTimerAt)
        {
            _closeTimerAt = Instant.MaxValue;
            if (_state == TcpState.FinWait2) _events |= TcpEvents.FinWait2Timeout;
            if (_state is TcpState.TimeWait or TcpState.FinWait2) EnterClosed();
        }
        if (now >= _retransmitAt) OnRetransmitTimeout(now);
        if (now >= _delayedAckAt)
        {
            _delayedAckAt = Instant.MaxValue;
            _ackNow = true;
        }
        if (now >= _persistAt) OnPersistTimeout(now);
        if (now >= _keepAliveAt) OnKeepAliveTimeout(now);
    }

    // RFC 6298 §5.4–5.6, RFC 5681 §3.1 (cwnd = 1 SMSS, ssthresh = FlightSize/2), RFC 9293 §3.8.3 (R2 limit).
    private void OnRetransmitTimeout(Instant now)
    {
        _retransmitAt = Instant.MaxValue;
        bool handshake = _state is TcpState.SynSent or TcpState.SynRcvd;
        if (!handshake && (_sndMax == _sndUna || _state is TcpState.Closed or TcpState.Listen or TcpState.TimeWait)) return;
        if (RetransmitLimitReached(now))
        {
            if (_state == TcpState.SynRcvd && _passiveOpen)
            {
                ReturnToListen(); // the SYN-ACK went unanswered: forget the half-open connection (MUST-11)
                return;
            }
            // Reported, not handled: the owner aborts or uploads (chimney Retrieve(TimeoutExpiration), spec §6.8).
            _retransmitLimitHit = true;
            _events |= TcpEvents.RetransmitTimeout;
            return;
        }
        if (!_totalRtActive)
        {
            _firstRetransmitAt = now;
            _totalRtActive = true;
        }
        _retransmitCount++;
        _stats.RetransmitTimeouts++;
        if (_retransmitCount == _config.DoubtReachabilityRetransmissions) _events |= TcpEvents.ReachabilityInDoubt;
        _rtt.Backoff();
        _rttTiming = false; // Karn: no sample from a retransmitted segment
        if (handshake)
        {
            _synRetransmitted = true;
            _sndNxt = _iss;
        }
        else
        {
            _cc.OnRetransmitTimeout(FlightSize);
            _undoValid = false; // a timeout's reduction is not undone by D-SACK (that would need F-RTO / Eifel)
            _sndNxt = _sndUna;
            _inRecovery = false;
            _retransmitHeadNow = false;
            // Go-back-N after a timeout resends everything; the peer may have reneged on what it SACKed (RFC 2018 §8).
            _scoreboard.Clear();
            _dupAckCount = 0;
            // RFC 6582 §3.2 step 1 after a timeout: no fast retransmit for duplicate ACKs of data sent before it.
            _recover = _sndMax;
        }
        _retransmitAt = now.AddMicroseconds(_rtt.Rto);
    }

    private bool RetransmitLimitReached(Instant now)
    {
        uint maxRt = _config.MaxRT;
        if (maxRt == uint.MaxValue) return false;
        if (maxRt == 0) return _retransmitCount >= _config.MaxRetransmissions;
        return _totalRtActive && (now - _firstRetransmitAt).Ticks / 10 >= _config.TicksToMicroseconds(maxRt);
    }

    /// <summary>Elapsed retransmission time in ticks (chimney TotalRT): time since the first retransmission of the data
    /// still unacknowledged, 0 when not retransmitting.</summary>
    public uint TotalRTTicks(Instant now)
        => !_totalRtActive ? 0u : (uint)Math.Min(uint.MaxValue, (now - _firstRetransmitAt).Ticks / 10 / _config.TickMicroseconds);

    // RFC 9293 §3.8.6.1 (MUST-35/36, SHLD-29/30): probe a zero window with exponential backoff; chimney §6.8 limit.
    private void OnPersistTimeout(Instant now)
    {
        _persistAt = Instant.MaxValue;
        if (_sndMax != _sndUna || !IsSynchronized) return;
        if (_sndWnd > 0)
        {
            _forceSendNow = true;
            return;
        }
        if (_config.MaxRT != uint.MaxValue && _unansweredProbes >= _config.MaxRetransmissions)
        {
            _events |= TcpEvents.PersistTimeout;
            return;
        }
        _unansweredProbes++;
        _windowProbeNow = true;
        _persistBackoff++;
        _persistAt = now.AddMicroseconds(PersistInterval());
    }

    private long PersistInterval() => Math.Min(_rtt.Rto << Math.Min(_persistBackoff, 20), _rtt.MaxRto);

    private void ArmPersist(Instant now)
    {
        if (_persistAt != Instant.MaxValue) return;
        if (_state is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.LastAck or TcpState.Closing)) return;
        if (_sndMax != _sndUna) return;
        if (_sndDataEnd <= _sndNxt) return;
        _persistAt = now.AddMicroseconds(PersistInterval());
    }

    // RFC 9293 §3.8.4 (MUST-26: only when idle; MUST-29: one lost probe is not death).
    private void OnKeepAliveTimeout(Instant now)
    {
        _keepAliveAt = Instant.MaxValue;
        if (!_config.KeepAlive || _state is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.FinWait2)) return;
        if (_sndMax != _sndUna || _sndDataEnd > _sndNxt)
        {
            _keepAliveAt = now.AddMicroseconds(_config.TicksToMicroseconds(_config.KaTimeoutTicks));
            return;
        }
        if (_keepAliveProbesSent >= _config.KaProbeCount)
        {
            _events |= TcpEvents.KeepAliveTimeout;
            return;
        }
        _keepAliveProbesSent++;
        _keepAliveProbeNow = true;
        _keepAliveAt = now.AddMicroseconds(_config.TicksToMicroseconds(_config.KaIntervalTicks));
    }
}
