using OffloadEmu.Wire;

namespace OffloadEmu.Tcp;

public sealed partial class TcpMachine
{
    /// <summary>Parses raw TCP bytes (header + payload) received from the remote address, verifies the checksum against
    /// the connection's pseudo-header and processes the segment. Bad checksums, truncated headers and illegal option
    /// lengths are dropped and counted in <see cref="TcpStatistics.InErrors"/>; returns false for those.</summary>
    /// <remarks>RFC 9293 §3.1 MUST-3 (verify and discard), MUST-7 (illegal option length survives).</remarks>
    public bool ProcessSegment(Span<byte> tcpSegment, Instant now) => ProcessSegment(tcpSegment, now, checksumTrusted: false);

    /// <summary>As <see cref="ProcessSegment(Span{byte}, Instant)"/>; with <paramref name="checksumTrusted"/> the checksum
    /// is not verified (the device vouched for it: a partial checksum or one it validated, segmentation offload).</summary>
    public bool ProcessSegment(Span<byte> tcpSegment, Instant now, bool checksumTrusted)
    {
        TcpRepr repr;
        if (!TcpSegment.TryCreate(tcpSegment, out var segment, out _)
            || !(checksumTrusted
                ? TcpRepr.TryParseUnverified(segment, out repr, out _)
                : TcpRepr.TryParse(segment, _pseudoHeaderBase + (ulong)(uint)segment.Buffer.Length, out repr, out _)))
        {
            RecordInError();
            return false;
        }
        Process(repr, segment.Payload, now);
        return true;
    }

    /// <summary>Processes one received segment whose checksum the caller verified.</summary>
    /// <remarks>RFC 9293 §3.10.7 (SEGMENT ARRIVES), with RFC 5961 §3–§5 and RFC 7323 §5 (PAWS).</remarks>
    public void Process(in TcpRepr segment, ReadOnlySpan<byte> payload, Instant now)
    {
        _stats.InSegments++;
        if (segment.DestinationPort != _localPort) return;
        if (_state != TcpState.Listen && _state != TcpState.Closed && segment.SourcePort != _remotePort) return;
        switch (_state)
        {
            case TcpState.Closed:
                ProcessClosed(segment, payload.Length);
                return;
            case TcpState.Listen:
                ProcessListen(segment, now);
                return;
            case TcpState.SynSent:
                ProcessSynSent(segment, now);
                return;
            default:
                ProcessSynchronized(segment, payload, now);
                return;
        }
    }

    // RFC 9293 §3.10.7.1: anything but a RST gets a RST.
    private void ProcessClosed(in TcpRepr segment, int payloadLength)
    {
        var flags = segment.Flags;
        if ((flags & TcpFlags.Rst) != 0) return;
        if (segment.AckNumber is SeqNumber ack)
            QueueReset(segment.SourcePort, ack, null);
        else
            QueueReset(segment.SourcePort, default, segment.SequenceNumber + (payloadLength + ((flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((flags & TcpFlags.Fin) != 0 ? 1 : 0)));
    }

    private void QueueReset(ushort port, SeqNumber seq, SeqNumber? ack)
    {
        _rstPending = true;
        _rstPort = port;
        _rstSeq = seq;
        _rstAck = ack;
    }

    // RFC 9293 §3.10.7.2.
    private void ProcessListen(in TcpRepr segment, Instant now)
    {
        var flags = segment.Flags;
        if ((flags & TcpFlags.Rst) != 0) return;
        if (segment.AckNumber is SeqNumber ack)
        {
            QueueReset(segment.SourcePort, ack, null);
            return;
        }
        if ((flags & TcpFlags.Syn) == 0) return;
        _remotePort = segment.SourcePort;
        var isn = _config.IsnGenerator ?? IsnGenerator.CreateRandom();
        _tsOffset = isn.TimestampOffset(_addresses, _localPort, _remotePort);
        InitSendSequence(IssOverride ?? new SeqNumber(isn.Generate(_addresses, _localPort, _remotePort, now)));
        _irs = segment.SequenceNumber;
        _rcvNxt = _irs + 1;
        _rcvAdvEdge = _rcvNxt;
        _lastAckSent = _rcvNxt;
        NegotiateOptions(segment.Options, now);
        _sndWnd = segment.Window; // a SYN's window is never scaled (RFC 7323 §2.2)
        _maxSndWnd = _sndWnd;
        _sndWl1 = segment.SequenceNumber;
        _sndWl2 = _iss;
        _state = TcpState.SynRcvd;
        _lastSendAt = now;
        ArmKeepAlive(now);
    }

    /// <summary>Test hook: the ISS a LISTEN machine uses for its SYN-ACK.</summary>
    internal SeqNumber? IssOverride { get; set; }

    private void NegotiateOptions(in TcpOptions options, Instant now)
    {
        _remoteMss = options.MaxSegmentSize ?? (_addresses.IsIpv6 ? (ushort)1220 : (ushort)536);
        if (_config.WindowScaling && options.WindowScale is byte shift)
        {
            _sndWindShift = Math.Min(shift, (byte)14);
            _rcvWindShift = _ourWindowShift;
            _windowScaleNegotiated = true;
        }
        else
        {
            _sndWindShift = 0;
            _rcvWindShift = 0;
            _windowScaleNegotiated = false;
        }
        _tsEnabled = _config.Timestamps && options.Timestamps.HasValue;
        _sackPermitted = _config.Sack && options.SackPermitted;
        _tsRecentAge = now;
        if (_tsEnabled)
        {
            _tsRecent = options.Timestamps!.Value.TsVal;
            _tsRecentAge = now;
        }
        // RFC 6691 / RFC 9293 §3.7.1 MUST-16: the payload limit is the smaller MSS minus the option bytes every segment carries.
        _effectiveMss = EffectiveMssFor(_remoteMss, _config.Mss, _tsEnabled);
        _cc.Reset(_effectiveMss, InitialWindow, uint.MaxValue);
    }

    // RFC 9293 §3.10.7.3.
    private void ProcessSynSent(in TcpRepr segment, Instant now)
    {
        var flags = segment.Flags;
        bool rst = (flags & TcpFlags.Rst) != 0;
        if (segment.AckNumber is SeqNumber ack && (ack <= _iss || ack > _sndMax))
        {
            if (!rst) QueueReset(segment.SourcePort, ack, null);
            return;
        }
        if (rst)
        {
            // Only a RST that acknowledges our SYN is believed (RFC 9293 §3.10.7.3, RFC 5961 §3 note).
            if (segment.AckNumber.HasValue)
            {
                _events |= TcpEvents.Reset;
                EnterClosed();
            }
            return;
        }
        if ((flags & TcpFlags.Syn) == 0) return;
        _irs = segment.SequenceNumber;
        _rcvNxt = _irs + 1;
        _rcvAdvEdge = _rcvNxt;
        NegotiateOptions(segment.Options, now);
        _sndWnd = segment.Window;
        _maxSndWnd = _sndWnd;
        _sndWl1 = segment.SequenceNumber;
        if (segment.AckNumber is SeqNumber synAck)
        {
            _sndWl2 = synAck;
            AcknowledgeHandshake(synAck, segment.Options, now);
            _state = TcpState.Established;
            _events |= TcpEvents.Connected;
            _ackNow = true;
            ArmKeepAlive(now);
            return;
        }
        // Simultaneous open (RFC 9293 §3.5, figure 8): resend our SYN, now with an ACK.
        _sndWl2 = _iss;
        _state = TcpState.SynRcvd;
        _sndNxt = _iss;
        _retransmitAt = Instant.MaxValue;
    }

    // The SYN is acknowledged: RTT sample (Karn: not if the SYN was retransmitted, unless timestamps say which copy).
    private void AcknowledgeHandshake(SeqNumber ack, in TcpOptions options, Instant now)
    {
        if (_tsEnabled && options.Timestamps is TcpTimestamps ts && ts.TsEcr != 0)
            _rtt.AddSample(Math.Max(0, (long)unchecked(TsValAt(now) - ts.TsEcr)) * 1000);
        else if (!_synRetransmitted)
            _rtt.AddSample((now - _lastSendAt).Ticks / 10);
        _rttTiming = false;
        _sndUna = ack;
        _synAcked = true;
        if (_sndNxt < ack) _sndNxt = ack;
        _retransmitCount = 0;
        _retransmitLimitHit = false;
        _totalRtActive = false;
        _retransmitAt = _sndMax > _sndUna ? now.AddMicroseconds(_rtt.Rto) : Instant.MaxValue;
    }

    private void ProcessSynchronized(in TcpRepr segment, ReadOnlySpan<byte> payload, Instant now)
    {
        var flags = segment.Flags;
        bool rst = (flags & TcpFlags.Rst) != 0;
        bool syn = (flags & TcpFlags.Syn) != 0;
        bool fin = (flags & TcpFlags.Fin) != 0;
        var seq = segment.SequenceNumber;

        // A SYN-ACK crossing ours in a simultaneous open, or a retransmitted SYN: answer in handshake terms.
        if (_state == TcpState.SynRcvd && syn && !rst && seq == _irs)
        {
            if (segment.AckNumber is SeqNumber a && a > _sndUna && a <= _sndMax)
            {
                AcknowledgeHandshake(a, segment.Options, now);
                _sndWnd = (uint)segment.Window << _sndWindShift;
                _maxSndWnd = Math.Max(_maxSndWnd, _sndWnd);
                _sndWl1 = seq;
                _sndWl2 = a;
                _state = TcpState.Established;
                _events |= TcpEvents.Connected;
                _ackNow = true;
            }
            else
            {
                _sndNxt = _iss; // resend the SYN-ACK
            }
            return;
        }

        // RFC 7323 §3.2: once timestamps are negotiated, a non-RST segment without the option is silently dropped (Linux
        // accepts it; the RFC's SHOULD wins here). A RST is processed with or without it.
        if (_tsEnabled && !rst && !segment.Options.Timestamps.HasValue)
        {
            _stats.MissingTimestampDrops++;
            return;
        }

        // PAWS (RFC 7323 §5.3): before the sequence check, drop (and ACK) segments carrying an old timestamp.
        if (_tsEnabled && !rst && segment.Options.Timestamps is TcpTimestamps ts
            && unchecked((int)(ts.TsVal - _tsRecent)) < 0 && (now - _tsRecentAge) <= TimeSpan.FromDays(24))
        {
            _stats.PawsDrops++;
            _ackNow = true;
            return;
        }

        // Sequence acceptability (RFC 9293 §3.10.7.4, first check; SA-1).
        int segLen = payload.Length + (syn ? 1 : 0) + (fin ? 1 : 0);
        int window = (int)RcvWnd;
        bool acceptable;
        bool zeroWindowControl = false;
        if (segLen == 0)
            acceptable = window == 0 ? seq == _rcvNxt : seq >= _rcvNxt && seq - _rcvNxt < window;
        else if (window == 0)
        {
            // MUST-66: ACK, URG and RST are still processed at zero window; the data is not.
            acceptable = zeroWindowControl = seq == _rcvNxt;
        }
        else
        {
            var last = seq + (segLen - 1);
            acceptable = (seq >= _rcvNxt && seq - _rcvNxt < window) || (last >= _rcvNxt && last - _rcvNxt < window);
        }
        if (!acceptable)
        {
            _stats.OutOfWindowSegments++;
            if (!rst)
            {
                // SA-2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>; in TIME-WAIT a retransmitted FIN also restarts 2MSL.
                _ackNow = true;
                if (payload.Length > 0 && seq < _rcvNxt) ReportDuplicate(seq, SeqNumber.Min(seq + payload.Length, _rcvNxt));
                if (_state == TcpState.TimeWait && fin) _closeTimerAt = now + 2 * _config.Msl;
            }
            return;
        }

        // RST (RFC 5961 §3.2; SA-4): exact match resets, other in-window ones get a challenge ACK.
        if (rst)
        {
            // RFC 1337 (fix F1): TIME-WAIT ignores RSTs. Everything up to the peer's FIN has arrived; a peer that already
            // closed answers our re-ACK of a duplicated FIN with a RST, which must not tear down a connection whose data
            // the application (or, offloaded, the host) may not have read yet (found by the soak test, issue 8).
            if (_state == TcpState.TimeWait)
            {
                _stats.TimeWaitResetsIgnored++;
                return;
            }
            if (seq == _rcvNxt)
            {
                // MUST-11: a SYN-RECEIVED that came from LISTEN goes back there; one from a simultaneous open was refused.
                if (_state == TcpState.SynRcvd && _passiveOpen)
                {
                    ReturnToListen();
                    return;
                }
                if (_state is TcpState.Established or TcpState.CloseWait) _stats.ResetEstablished++;
                _events |= TcpEvents.Reset;
                EnterClosed();
            }
            else
            {
                ChallengeAck(now);
            }
            return;
        }

        // SYN in a synchronized state (RFC 5961 §4.2; SA-5): challenge ACK whatever the sequence number.
        if (syn)
        {
            ChallengeAck(now);
            return;
        }

        // SA-6: no ACK bit, drop.
        if (segment.AckNumber is not SeqNumber ack) return;

        if (_state == TcpState.SynRcvd)
        {
            if (ack > _sndUna && ack <= _sndMax)
            {
                _state = TcpState.Established;
                _events |= TcpEvents.Connected;
                _sndWnd = (uint)segment.Window << _sndWindShift;
                _maxSndWnd = Math.Max(_maxSndWnd, _sndWnd);
                _sndWl1 = seq;
                _sndWl2 = ack;
            }
            else
            {
                QueueReset(segment.SourcePort, ack, null);
                return;
            }
        }

        // RFC 5961 §5.2 / SA-7: acknowledgments of data never sent, or older than the largest window, are answered and dropped.
        if (ack > _sndMax || ack < _sndUna - (int)Math.Min(_maxSndWnd, int.MaxValue))
        {
            _ackNow = true;
            return;
        }

        // RFC 7323 §4.3: TS.Recent comes from the segment that starts at or before the last ACK we sent.
        if (_tsEnabled && segment.Options.Timestamps is TcpTimestamps t && seq <= _lastAckSent)
        {
            _tsRecent = t.TsVal;
            _tsRecentAge = now;
        }

        // Every acceptable segment is proof of life for keep-alive and restarts the FIN_WAIT_2 timer (spec §6.8).
        ArmKeepAlive(now);
        _unansweredProbes = 0; // an answered window probe starts a new round (spec §6.8)
        if (_state == TcpState.FinWait2) _closeTimerAt = now + _config.FinWait2Timeout;

        ProcessAck(segment, ack, seq, payload.Length, now);
        if (_state == TcpState.Closed) return;

        if ((flags & TcpFlags.Urg) != 0) _events |= TcpEvents.UrgentDataReceived;

        if (_state is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
        {
            if (zeroWindowControl)
            {
                // The data did not fit: acknowledge so the sender learns the window is still zero.
                _ackNow = true;
                return;
            }
            ProcessText(seq, payload, fin, now);
        }
        else if (fin && _state == TcpState.TimeWait)
        {
            _ackNow = true;
            _closeTimerAt = now + 2 * _config.Msl;
        }
    }

    private void ChallengeAck(Instant now)
    {
        if (now >= _nextChallengeAckAt)
        {
            _ackNow = true;
            _stats.ChallengeAcks++;
            _nextChallengeAckAt = now + _config.ChallengeAckInterval;
        }
        else
        {
            _stats.ChallengeAcksSuppressed++;
        }
    }

    // RFC 9293 §3.10.7.4, fifth check (ACK field), with RFC 5681/6582 duplicate-ACK handling and SA-8 window updates.
    private void ProcessAck(in TcpRepr segment, SeqNumber ack, SeqNumber seq, int payloadLength, Instant now)
    {
        uint window = (uint)segment.Window << _sndWindShift;
        bool advancesUna = ack > _sndUna;
        if (_sackPermitted)
        {
            var una = ack > _sndUna ? ack : _sndUna;
            _scoreboard.Advance(una);
            if (segment.Options.SackBlockCount > 0)
            {
                _scoreboard.Update(segment.Options, una, _sndMax);
                if (_undoValid) CountDsack(segment.Options, ack);
            }
        }
        if (ack > _sndUna)
        {
            var oldUna = _sndUna;
            int acked = ack - oldUna;
            long dataAcked = DataBytesBetween(oldUna, ack);
            _sndUna = ack;
            if (_sndNxt < ack) _sndNxt = ack;
            _sendQueue.Acknowledge(dataAcked, SendCompletionSink);
            _synAcked = true;
            _unansweredProbes = 0;

            // RTT: the echoed timestamp when available (RFC 7323 §4), else the timed segment (Karn, RFC 6298 §3).
            long rttSample = -1;
            if (_tsEnabled && segment.Options.Timestamps is TcpTimestamps ts && ts.TsEcr != 0)
                rttSample = Math.Max(0, (long)unchecked((int)(TsValAt(now) - ts.TsEcr))) * 1000;
            else if (_rttTiming && ack >= _rttSeq)
                rttSample = (now - _rttStart).Ticks / 10;
            if (rttSample >= 0) _rtt.AddSample(rttSample);
            if (_rttTiming && ack >= _rttSeq) _rttTiming = false;
            _retransmitCount = 0;
            _retransmitLimitHit = false;
            _totalRtActive = false;

            if (_inRecovery)
            {
                if (ack >= _recover)
                {
                    _inRecovery = false;
                    _dupAckCount = 0;
                    _scoreboard.ClearRetransmitted();
                    _cc.OnExitRecovery(FlightSize);
                    TryUndoRecovery();
                }
                else if (_sackPermitted)
                {
                    // RFC 6675: the scoreboard chooses what to send next (its marks below SND.UNA went with Advance).
                }
                else
                {
                    // RFC 6582 §3.2 step 5: a partial ACK retransmits the next hole and stays in recovery.
                    _cc.OnPartialAck(acked);
                    _retransmitHeadNow = true;
                }
            }
            else
            {
                _dupAckCount = 0;
                if (_config.HyStart) _cc.OnSlowStartAck(ack, _sndMax, rttSample);
                _cc.OnAck(acked, now, TimeSpan.FromTicks(_rtt.SRtt * 10));
                // Keep the recovery point just behind SND.UNA so the "ACK covers more than recover" test of RFC 6582
                // stays a comparison between nearby numbers however far the connection runs.
                if (_sndUna - 1 > _recover) _recover = _sndUna - 1;
            }
            _retransmitAt = _sndMax > _sndUna ? now.AddMicroseconds(_rtt.Rto) : Instant.MaxValue;

            bool finAcked = _finQueued && _sndUna == _finSeq + 1;
            if (finAcked)
            {
                switch (_state)
                {
                    case TcpState.FinWait1:
                        _state = TcpState.FinWait2;
                        _closeTimerAt = now + _config.FinWait2Timeout;
                        break;
                    case TcpState.Closing:
                        EnterTimeWait(now);
                        break;
                    case TcpState.LastAck:
                        EnterClosed();
                        return;
                }
            }
        }
        else if (ack == _sndUna && payloadLength == 0 && (segment.Flags & TcpFlags.Fin) == 0 && window == _sndWnd && _sndMax > _sndUna)
        {
            // A duplicate ACK (RFC 5681 §2 definition).
            _dupAckCount++;
            if (_inRecovery)
            {
                if (!_sackPermitted) _cc.OnDuplicateAckInRecovery();
            }
            else if ((_dupAckCount == _config.DuplicateAckThreshold
                      || (_sackPermitted && _scoreboard.IsLost(_sndUna, _config.DuplicateAckThreshold, _effectiveMss)))
                     && _sndUna > _recover)
            {
                _scoreboard.ClearRetransmitted();
                _rescueSent = false;
                _undoValid = _sackPermitted;
                _undoCWnd = _cc.CWnd;
                _undoSsThresh = _cc.SsThresh;
                _undoStart = _sndUna;
                _undoEnd = _sndMax;
                _undoRetransmitted = 0;
                _undoDsacked = 0;
                // RFC 6582 §3.2 step 2: enter fast retransmit only if the ACK covers more than the last recovery point.
                _inRecovery = true;
                _recover = _sndMax;
                _cc.OnEnterRecovery(FlightSize, now);
                _retransmitHeadNow = true;
                _rttTiming = false;
                _stats.FastRetransmits++;
            }
        }

        // SA-8: take the window only from a segment newer than the last update, or (as Linux's tcp_may_update_window)
        // from any ACK that advances SND.UNA: the usable window is SND.UNA + SND.WND, so a window kept from an older
        // update while SND.UNA moves on would move the right edge past the peer's (a peer retransmitting older data
        // carries its newest ACK and window on a segment with a lower SEQ).
        if (ack >= _sndUna && (advancesUna || _sndWl1 < seq || (_sndWl1 == seq && _sndWl2 <= ack)))
        {
            _sndWnd = window;
            _sndWl1 = seq;
            _sndWl2 = ack;
            if (window > _maxSndWnd) _maxSndWnd = window;
            if (window > 0)
            {
                _persistAt = Instant.MaxValue;
                _persistBackoff = 0;
            }
        }
    }

    // RFC 2883 §4: the first SACK block is a D-SACK when it lies below the cumulative ACK or inside the second block. One
    // inside the last recovery episode says a copy we retransmitted there was needless (the original had arrived).
    private void CountDsack(in TcpOptions options, SeqNumber ack)
    {
        var first = options.GetSackBlock(0);
        if (first.End <= first.Start) return;
        bool dsack = first.End <= ack;
        if (!dsack && options.SackBlockCount > 1)
        {
            var second = options.GetSackBlock(1);
            dsack = first.Start >= second.Start && first.End <= second.End;
        }
        if (!dsack || first.Start < _undoStart || first.End > _undoEnd) return;
        if (_undoDsacked > 0 && first.Start == _lastDsackStart && first.End == _lastDsackEnd) return;
        _lastDsackStart = first.Start;
        _lastDsackEnd = first.End;
        _undoDsacked += first.End - first.Start;
        if (!_inRecovery) TryUndoRecovery();
    }

    // Every byte the episode retransmitted came back D-SACKed: the reduction was needless, restore the window (once the
    // episode is over, so recovery's own bookkeeping stays whole).
    private void TryUndoRecovery()
    {
        if (!_undoValid || _undoRetransmitted == 0 || _undoDsacked < _undoRetransmitted) return;
        _undoValid = false;
        _cc.UndoReduction(_undoCWnd, _undoSsThresh);
        _stats.SpuriousRecoveries++;
    }

    // Payload bytes (not SYN or FIN) in [from, to) of our sequence space. Only nearby sequence numbers are compared
    // (never the ISS once the SYN is acknowledged), so this stays right after gigabytes have wrapped the space.
    private long DataBytesBetween(SeqNumber from, SeqNumber to)
    {
        if (!_synAcked && from == _iss) from += 1;
        if (to > _sndDataEnd) to = _sndDataEnd;
        return Math.Max(0, to - from);
    }

    // RFC 9293 §3.10.7.4, seventh and eighth checks: segment text and FIN.
    private void ProcessText(SeqNumber seq, ReadOnlySpan<byte> payload, bool fin, Instant now)
    {
        var finSeq = seq + payload.Length;
        // Trim what we already have (left) and what does not fit the window (right); SA-3.
        if (seq < _rcvNxt)
        {
            int cut = _rcvNxt - seq;
            _stats.DuplicateBytes += (ulong)Math.Min(cut, payload.Length);
            if (payload.Length > 0) ReportDuplicate(seq, SeqNumber.Min(seq + payload.Length, _rcvNxt));
            payload = cut >= payload.Length ? default : payload[cut..];
            seq = _rcvNxt;
        }
        int offset = seq - _rcvNxt;
        int room = (int)RcvWnd - offset;
        if (payload.Length > room)
        {
            payload = room > 0 ? payload[..room] : default;
            fin = false;
        }

        if (payload.Length > 0)
        {
            if (offset == 0)
            {
                bool fillsHole = !_reassembler.IsEmpty;
                AcceptInOrder(payload);
                if (fillsHole)
                    _ackNow = true; // RFC 5681 §4.2: ACK a hole-filling segment at once
                else
                    CountForDelayedAck(now, payload.Length);
            }
            else
            {
                NoteOutOfOrderArrival(seq);
                if (_sackPermitted && _reassembler.Covers(offset, offset + payload.Length))
                    ReportDuplicate(seq, seq + payload.Length);
                if (_reassembler.TryAdd(offset, offset + payload.Length))
                    _rx.WriteAt(offset, payload);
                else
                    _stats.ReassemblyDrops++;
                _ackNow = true; // RFC 5681 §4.2: out-of-order arrivals are acknowledged immediately
            }
        }

        if (fin && finSeq > _rcvNxt)
        {
            // A FIN beyond a hole waits until the data before it arrives.
            _finReceivedOutOfOrder = true;
            _pendingFinSeq = finSeq;
            _ackNow = true;
        }
        if ((fin && finSeq == _rcvNxt) || (_finReceivedOutOfOrder && _pendingFinSeq == _rcvNxt)) ConsumeFin(now);
    }

    // RFC 2018 §4: remember the arrival, newest first; the oldest beyond the number of blocks an ACK can carry goes.
    private void NoteOutOfOrderArrival(SeqNumber seq)
    {
        var history = _recentOutOfOrder;
        if (history.Length == 0) _recentOutOfOrder = history = new SeqNumber[TcpOptions.MaxSackBlocks];
        int n = Math.Min(_recentOutOfOrderCount, history.Length - 1);
        for (int i = n; i > 0; i--) history[i] = history[i - 1];
        history[0] = seq;
        _recentOutOfOrderCount = n + 1;
    }

    // RFC 2883: the next ACK reports this duplicate range as its first SACK block (once).
    private void ReportDuplicate(SeqNumber start, SeqNumber end)
    {
        if (!_sackPermitted || end <= start) return;
        _dsackPending = true;
        _dsackStart = start;
        _dsackEnd = end;
        _ackNow = true;
    }

    private void AcceptInOrder(ReadOnlySpan<byte> payload)
    {
        int length = payload.Length;
        var consumer = ReceiveConsumer;
        if (consumer is not null && _rx.Count == _rxHeld && _reassembler.IsEmpty)
        {
            // Fast path: hand the bytes straight to the consumer (the held bytes, if any, are older: it takes nothing
            // while it holds them), let it hold what it did not take, and write only the rest into the ring.
            int taken = Math.Clamp(consumer.Deliver(payload), 0, length);
            if (taken < length)
            {
                int held = Math.Clamp(consumer.Hold(payload[taken..]), 0, length - taken);
                _rx.Commit(held);
                _rxHeld += held;
                taken += held;
                if (taken < length)
                {
                    _rx.WriteAt(0, payload[taken..]);
                    _rx.Commit(length - taken);
                }
            }
            _rcvNxt += length;
            return;
        }
        _rx.WriteAt(0, payload);
        _rx.Commit(length);
        int extra = _reassembler.Advance(length);
        _rx.Commit(extra);
        _rcvNxt += length + extra;
        if (consumer is not null) DeliverBuffered();
    }

    private void CountForDelayedAck(Instant now, int length)
    {
        // A super-segment (segmentation offload: the kernel's GSO frame, not cut) stands for the segments it holds.
        int mss = Math.Max((int)_config.Mss, 1);
        _segmentsUnacked += length > mss ? (length + mss - 1) / mss : 1;
        if (_segmentsUnacked >= _config.AckFrequency)
            _ackNow = true;
        else if (_delayedAckAt == Instant.MaxValue)
            _delayedAckAt = now.AddMicroseconds(_config.TicksToMicroseconds(_config.DelayedAckTicks));
    }

    // SA-10.
    private void ConsumeFin(Instant now)
    {
        _finReceivedOutOfOrder = false;
        _rcvNxt += 1;
        // The FIN takes a sequence number but no buffer space: keep the offered window unchanged.
        _rcvAdvEdge += 1;
        _ackNow = true;
        _events |= TcpEvents.PeerClosed;
        switch (_state)
        {
            case TcpState.Established:
                _state = TcpState.CloseWait;
                break;
            case TcpState.FinWait1:
                if (_finQueued && _sndUna == _finSeq + 1) EnterTimeWait(now);
                else _state = TcpState.Closing;
                break;
            case TcpState.FinWait2:
                EnterTimeWait(now);
                break;
        }
    }

    private void ArmKeepAlive(Instant now)
    {
        _keepAliveProbesSent = 0;
        _keepAliveAt = _config.KeepAlive ? now.AddMicroseconds(_config.TicksToMicroseconds(_config.KaTimeoutTicks)) : Instant.MaxValue;
    }
}
