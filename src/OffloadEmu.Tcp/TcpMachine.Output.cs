using OffloadEmu.Wire;

namespace OffloadEmu.Tcp;

public sealed partial class TcpMachine
{
    private enum SegmentKind : byte
    {
        None,
        Reset,
        Syn,
        Data,
        Ack,
        Probe,
    }

    // What the next segment would be; computed without side effects so PollAt can ask the same question as Dispatch.
    private struct Plan
    {
        public SegmentKind Kind;
        public SeqNumber Seq;
        public int Length;
        public bool Fin;
        public bool Retransmit;
        public bool HeadRetransmit;
        public bool SackRetransmit;
        public bool Rescue;
        // Payload bytes per wire segment of a super-segment (0: the segment is wire-sized).
        public int SegmentSize;
    }

    /// <summary>The latest instant by which <see cref="Dispatch"/> must be called again: <see cref="Instant.MinValue"/>
    /// when a segment is ready now, <see cref="Instant.MaxValue"/> when nothing is pending. Call <see cref="Dispatch"/>
    /// after each <see cref="Process"/> before asking.</summary>
    public Instant PollAt()
    {
        if (PlanNext(out _)) return Instant.MinValue;
        var at = Instant.Min(_retransmitAt, _delayedAckAt);
        at = Instant.Min(at, _persistAt);
        at = Instant.Min(at, _keepAliveAt);
        return Instant.Min(at, _closeTimerAt);
    }

    /// <summary>Runs the timers due at <paramref name="now"/> and writes every segment the machine wants to send into
    /// <paramref name="writer"/>'s buffers (TCP header with checksum, then payload). Returns the number written.</summary>
    /// <remarks>RFC 9293 §3.10.8 (timeouts), §3.7.4 (Nagle), §3.8.6.2.1 (sender SWS avoidance), RFC 5681 §4.1 (restart
    /// after idle), RFC 3042 (limited transmit).</remarks>
    public int Dispatch(Instant now, ITcpSegmentWriter writer)
    {
        RunTimers(now);
        if (IsSynchronized && _sndMax == _sndUna && _sndDataEnd > _sndNxt && _lastSendAt.AddMicroseconds(_rtt.Rto) < now)
        {
            _cc.OnRestartAfterIdle(InitialWindow);
            _lastSendAt = now;
        }
        int sent = 0;
        while (sent < MaxDispatchSegments && PlanNext(out var plan))
        {
            if (!Emit(plan, now, writer)) break;
            sent++;
        }
        ArmPersist(now);
        return sent;
    }

    private bool PlanNext(out Plan plan)
    {
        plan = default;
        if (_rstPending)
        {
            plan.Kind = SegmentKind.Reset;
            plan.Seq = _rstSeq;
            return true;
        }
        switch (_state)
        {
            case TcpState.Closed:
            case TcpState.Listen:
                return false;
            case TcpState.SynSent:
                if (_sndNxt != _iss) return false;
                plan.Kind = SegmentKind.Syn;
                plan.Seq = _iss;
                plan.Retransmit = _sndMax != _iss;
                return true;
            case TcpState.SynRcvd:
                if (_sndNxt == _iss)
                {
                    plan.Kind = SegmentKind.Syn;
                    plan.Seq = _iss;
                    plan.Retransmit = _sndMax != _iss;
                    return true;
                }
                break;
            case TcpState.TimeWait:
                if (!_ackNow) return false;
                plan.Kind = SegmentKind.Ack;
                plan.Seq = _sndMax;
                return true;
        }

        if (_state != TcpState.SynRcvd)
        {
            if (_retransmitHeadNow && PlanHeadRetransmit(ref plan)) return true;
            if (_inRecovery && _sackPermitted)
            {
                if (PlanSackRecovery(ref plan)) return true;
            }
            else if (PlanData(ref plan, null))
            {
                return true;
            }
        }
        if (_ackNow || WindowUpdateDue())
        {
            // A pure ACK carries the highest sequence number sent (RFC 9293's SND.NXT); our SndNxt may have been pulled
            // back by a timeout, and an ACK below the peer's RCV.NXT would fail its acceptability test and be ignored.
            plan.Kind = SegmentKind.Ack;
            plan.Seq = _sndMax;
            return true;
        }
        if (_windowProbeNow || _keepAliveProbeNow)
        {
            // A zero-length segment one below SND.UNA: the peer must answer it with an ACK carrying its window (RFC 9293
            // §3.8.6.1 allows a probe without data; Linux probes the same way).
            plan.Kind = SegmentKind.Probe;
            plan.Seq = _sndUna - 1;
            return true;
        }
        return false;
    }

    // Fast retransmit and NewReno partial ACKs resend the first unacknowledged segment whatever the windows say.
    private bool PlanHeadRetransmit(ref Plan plan)
    {
        long outstandingData = Math.Max(0, SeqNumber.Min(_sndDataEnd, _sndMax) - _sndUna);
        int length = (int)Math.Min(outstandingData, SegmentLimit());
        bool fin = _finQueued && _sndUna + length == _finSeq && _sndMax > _finSeq;
        if (length == 0 && !fin) return false;
        plan.Kind = SegmentKind.Data;
        plan.Seq = _sndUna;
        plan.Length = length;
        plan.Fin = fin;
        plan.Retransmit = true;
        plan.HeadRetransmit = true;
        return true;
    }

    // RFC 6675 §5 (NextSeg, pipe): while cwnd − pipe ≥ 1 SMSS, resend a lost hole, else send new data, else resend a
    // hole not yet deemed lost, else (once) the rescue retransmission. The window in recovery is ssthresh (no NewReno
    // inflation). Bytes already retransmitted in this episode are never chosen again (the scoreboard's marks take the
    // place of HighRxt).
    private bool PlanSackRecovery(ref Plan plan)
    {
        long window = Math.Min(_cc.CWnd, _cc.SsThresh);
        long room = window - Pipe();
        if (room < _effectiveMss) return false;
        int threshold = _config.DuplicateAckThreshold;
        var cursor = _sndUna;
        bool haveRule3 = false;
        SeqNumber rule3Start = default, rule3End = default;
        for (int i = 0; i < _scoreboard.Count; i++)
        {
            var start = _scoreboard.GetStart(i);
            var end = _scoreboard.GetEnd(i);
            if (end <= cursor) continue;
            if (start > cursor && _scoreboard.FirstUnretransmitted(cursor, start, out var runStart, out var runEnd))
            {
                // IsLost only weakens going up (fewer SACKed ranges above), so the first run not lost ends rule 1.
                if (_scoreboard.IsLost(runStart, threshold, _effectiveMss))
                {
                    SetRetransmit(ref plan, runStart, (int)Math.Min(runEnd - runStart, SegmentLimit()));
                    return true;
                }
                haveRule3 = true;
                rule3Start = runStart;
                rule3End = runEnd;
                break;
            }
            cursor = end;
        }
        if (PlanData(ref plan, room)) return true;
        if (haveRule3)
        {
            SetRetransmit(ref plan, rule3Start, (int)Math.Min(rule3End - rule3Start, SegmentLimit()));
            return true;
        }
        // Rule 4, the rescue retransmission: once per recovery, resend the last segment of the flight so a lost tail is
        // repaired without waiting for the timer (it does not move what rules 1 and 3 may choose).
        if (!_rescueSent)
        {
            var dataTop = SeqNumber.Min(_sndMax, _sndDataEnd);
            var floor = SeqNumber.Max(_scoreboard.HighSacked(_sndUna), _sndUna);
            var start = SeqNumber.Max(dataTop - SegmentLimit(), floor);
            // Only the run below the top not yet retransmitted (none when the top byte itself was).
            while (start < dataTop && _scoreboard.FirstUnretransmitted(start, dataTop, out var runStart, out var runEnd))
            {
                if (runEnd == dataTop)
                {
                    start = runStart;
                    break;
                }
                start = runEnd;
            }
            if (!_scoreboard.FirstUnretransmitted(start, dataTop, out _, out _)) start = dataTop;
            int length = Math.Max(0, dataTop - start);
            bool fin = _finQueued && _sndMax > _finSeq && start + length == _finSeq;
            if (length > 0 || fin)
            {
                SetRetransmit(ref plan, start, length);
                plan.Fin = fin;
                plan.Rescue = true;
                return true;
            }
        }
        return false;
    }

    private static void SetRetransmit(ref Plan plan, SeqNumber seq, int length)
    {
        plan.Kind = SegmentKind.Data;
        plan.Seq = seq;
        plan.Length = length;
        plan.Retransmit = true;
        plan.SackRetransmit = true;
    }

    // RFC 6675 §4 SetPipe: outstanding bytes neither SACKed nor lost, plus the bytes retransmitted in this recovery once
    // more (each retransmitted byte is in flight as a copy of its own).
    internal long Pipe()
    {
        long pipe = 0;
        var cursor = _sndUna;
        int threshold = _config.DuplicateAckThreshold;
        for (int i = 0; i < _scoreboard.Count; i++)
        {
            var start = _scoreboard.GetStart(i);
            if (start > cursor)
            {
                bool lost = _scoreboard.IsLost(cursor, threshold, _effectiveMss);
                pipe += (lost ? 0 : start - cursor) + _scoreboard.RetransmittedBytes(cursor, start);
            }
            var end = _scoreboard.GetEnd(i);
            if (end > cursor) cursor = end;
        }
        if (_sndMax > cursor) pipe += (_sndMax - cursor) + _scoreboard.RetransmittedBytes(cursor, _sndMax);
        return pipe;
    }

    private bool PlanData(ref Plan plan, long? congestionRoom)
    {
        if (_state is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)) return false;
        long unsent = Math.Max(0, _sndDataEnd - _sndNxt);
        bool finPending = _finQueued && _sndNxt <= _finSeq;
        if (unsent == 0 && !finPending) return false;

        long inFlight = _sndNxt - _sndUna;
        int limit = SegmentLimit();
        long limitedTransmit = !_inRecovery && _dupAckCount > 0 && _dupAckCount < _config.DuplicateAckThreshold
            ? Math.Min(_dupAckCount, 2) * (long)_effectiveMss : 0;
        long available = Math.Min((long)_sndWnd - inFlight, congestionRoom ?? (_cc.CWnd + limitedTransmit - inFlight));
        bool retransmit = _sndNxt < _sndMax;
        int length = (int)Math.Max(0, Math.Min(Math.Min(unsent, available), limit));
        if (_forceSendNow && length == 0 && unsent > 0)
        {
            // Persist expiry with a small open window: override sender SWS avoidance (RFC 9293 §3.8.6.2.1).
            length = (int)Math.Max(0, Math.Min(Math.Min(unsent, (long)_sndWnd - inFlight), limit));
        }
        if (length > 0 && length < limit && !retransmit && !_forceSendNow)
        {
            // Sender SWS avoidance and Nagle (RFC 9293 §3.7.4, §3.8.6.2.1): a short segment goes only if it empties the
            // queue and nothing is outstanding (or Nagle is off), or it is at least half the largest window offered.
            bool emptiesQueue = length == unsent;
            // Once the application has closed no more data is coming: the tail goes out with the FIN (as Linux pushes
            // with Nagle off at close) instead of waiting a round trip.
            bool nagleHolds = _config.Nagle && inFlight > 0 && !_finQueued;
            bool halfWindow = _maxSndWnd > 0 && length >= _maxSndWnd / 2;
            if (!((emptiesQueue && !nagleHolds) || halfWindow)) length = 0;
        }
        if (length == limit && _config.SuperSegmentBytes > 0 && !retransmit && !_forceSendNow)
        {
            // Segmentation offload: the full segments wire-sized output would send next, back to back, in one frame, and
            // the short tail only if the rules above would let it go after them (Nagle holds it: those are in flight).
            int most = (Math.Min(_config.SuperSegmentBytes, TcpConfig.MaxSuperSegmentBytes) - MaxTcpHeaderLength) / limit * limit;
            int total = (int)Math.Max(limit, Math.Min(Math.Min(unsent, available), most));
            int full = total / limit * limit;
            int tail = total - full;
            if (tail > 0)
            {
                bool emptiesQueue = full + tail == unsent;
                bool nagleHolds = _config.Nagle && !_finQueued; // the full segments before it are in flight
                bool halfWindow = _maxSndWnd > 0 && tail >= _maxSndWnd / 2;
                if (!((emptiesQueue && !nagleHolds) || halfWindow)) tail = 0;
            }
            length = full + tail;
            if (length > limit) plan.SegmentSize = limit;
        }
        bool fin = finPending && _sndNxt + length == _finSeq;
        if (length == 0 && !fin) return false;
        plan.Kind = SegmentKind.Data;
        plan.Seq = _sndNxt;
        plan.Length = length;
        plan.Fin = fin;
        plan.Retransmit = retransmit;
        return true;
    }

    // Room for the largest TCP header (data offset 15) in a super-segment.
    private const int MaxTcpHeaderLength = 60;

    /// <summary>During <see cref="ITcpSegmentWriter.Commit"/>: the payload bytes per wire segment of the segment being
    /// committed when it is a super-segment (<see cref="TcpConfig.SuperSegmentBytes"/>; its payload is longer), else 0.
    /// The device cuts it at this size (virtio-net gso_size): the effective MSS less the SACK option bytes it carries.</summary>
    public int CommittingSegmentSize { get; private set; }

    /// <summary>Segments are written with partial checksums (<see cref="TcpConfig.PartialChecksum"/>).</summary>
    public bool PartialChecksum => _config.PartialChecksum;

    // The window we may advertise now: the buffer's free space, rounded down to the scale and capped by the field.
    // The buffer is the ring, or less after an update shrank InitialRcvWnd (UPDATE_RCV_WND): the ring keeps its size so
    // the window already advertised stays backed, and the smaller buffer applies as the data is consumed.
    private int AdvertisableWindow()
    {
        int free = Math.Max(0, Math.Min(_rx.Free, _config.ReceiveBufferSize - _rx.Count));
        int window = Math.Min(free, ushort.MaxValue << _rcvWindShift);
        return (window >> _rcvWindShift) << _rcvWindShift;
    }

    // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2, MUST-39): move the right edge only by a significant amount, never left.
    private int WindowToAdvertise()
    {
        int current = (int)RcvWnd;
        int candidate = AdvertisableWindow();
        if (candidate <= current) return current;
        int threshold = Math.Min(_rx.Capacity / 2, (int)_config.Mss);
        return candidate - current >= threshold ? candidate : current;
    }

    private bool WindowUpdateDue()
    {
        if (_state is not (TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)) return false;
        int current = (int)RcvWnd;
        int next = WindowToAdvertise();
        return next > current && (current == 0 || next >= 2 * current);
    }

    private bool Emit(in Plan plan, Instant now, ITcpSegmentWriter writer)
    {
        SeqNumber? ack = null;
        var flags = TcpFlags.None;
        ushort window = 0;
        var options = default(TcpOptions);
        switch (plan.Kind)
        {
            case SegmentKind.Reset:
                ack = _rstAck;
                flags = TcpFlags.Rst;
                break;
            case SegmentKind.Syn:
                flags = TcpFlags.Syn;
                if (_state == TcpState.SynRcvd) ack = _rcvNxt;
                window = (ushort)Math.Min(_rx.Free, ushort.MaxValue);
                options = SynOptions(now);
                break;
            default:
                ack = _rcvNxt;
                window = (ushort)Math.Min(WindowToAdvertise() >> _rcvWindShift, ushort.MaxValue);
                if (_tsEnabled) options = new TcpOptions { Timestamps = new TcpTimestamps(TsValAt(now), _tsRecent) };
                // SACK blocks ride on every segment while they are due; SegmentLimit took their bytes off the payload.
                if (SackBlocksDue) options = WithSackBlocks(options);
                if (plan.Fin) flags |= TcpFlags.Fin;
                // MUST-61: PSH on the segment that empties the send queue, and (below, as the payload is copied) on
                // every segment that carries the last byte of a queued buffer: one push per application write / NBL.
                if (plan.Length > 0 && plan.Seq + plan.Length == _sndDataEnd) flags |= TcpFlags.Psh;
                break;
        }
        var repr = new TcpRepr
        {
            SourcePort = _localPort,
            DestinationPort = plan.Kind == SegmentKind.Reset ? _rstPort : _remotePort,
            SequenceNumber = plan.Seq,
            AckNumber = ack,
            Flags = flags,
            Window = window,
            Options = options,
            PayloadLength = plan.Length,
        };
        int headerLength = repr.BufferLength;
        int total = headerLength + plan.Length;
        var buffer = writer.GetBuffer(total);
        if (buffer.Length < total) return false;
        if (plan.Length > 0 && _sendQueue.CopyTo(plan.Seq - DataStart, buffer.Slice(headerLength, plan.Length)))
            repr = repr with { Flags = repr.Flags | TcpFlags.Psh };
        if (_config.PartialChecksum)
        {
            if (_addresses.IsIpv6) repr.EmitPartialChecksum(buffer, _addresses.LocalV6, _addresses.RemoteV6);
            else repr.EmitPartialChecksum(buffer, _addresses.LocalV4, _addresses.RemoteV4);
        }
        else if (_addresses.IsIpv6)
        {
            repr.Emit(buffer, _addresses.LocalV6, _addresses.RemoteV6);
        }
        else
        {
            repr.Emit(buffer, _addresses.LocalV4, _addresses.RemoteV4);
        }
        CommittingSegmentSize = plan.SegmentSize;
        writer.Commit(total);
        CommittingSegmentSize = 0;
        // A super-segment is this many segments on the wire (statistics count those).
        ulong wireSegments = plan.SegmentSize > 0 ? (ulong)((plan.Length + plan.SegmentSize - 1) / plan.SegmentSize) : 1;

        if (options.SackBlockCount > 0) _dsackPending = false;
        if (plan.Kind == SegmentKind.Reset)
        {
            _rstPending = false;
            _stats.OutResets++;
            _stats.OutSegments++;
            return true;
        }
        if (ack.HasValue)
        {
            _lastAckSent = _rcvNxt;
            _ackNow = false;
            _delayedAckAt = Instant.MaxValue;
            _segmentsUnacked = 0;
            var edge = _rcvNxt + ((int)window << (plan.Kind == SegmentKind.Syn ? 0 : _rcvWindShift));
            if (edge > _rcvAdvEdge) _rcvAdvEdge = edge;
        }
        if (plan.Retransmit) _stats.RetransmittedSegments++;
        else _stats.OutSegments += wireSegments;

        switch (plan.Kind)
        {
            case SegmentKind.Syn:
                _sndNxt = _iss + 1;
                if (_sndMax < _sndNxt) _sndMax = _sndNxt;
                if (!plan.Retransmit) _lastSendAt = now;
                if (_retransmitAt == Instant.MaxValue) _retransmitAt = now.AddMicroseconds(_rtt.Rto);
                break;
            case SegmentKind.Data:
                var end = plan.Seq + (plan.Length + (plan.Fin ? 1 : 0));
                if (plan.HeadRetransmit) _retransmitHeadNow = false;
                if (plan.Retransmit && _inRecovery && _sackPermitted)
                {
                    _scoreboard.MarkRetransmitted(plan.Seq, end);
                    _undoRetransmitted += plan.Length;
                }
                if (plan.Rescue) _rescueSent = true;
                if (end > _sndNxt && !plan.SackRetransmit) _sndNxt = end;
                if (end > _sndMax) _sndMax = end;
                if (!plan.Retransmit && !_rttTiming)
                {
                    _rttTiming = true;
                    _rttSeq = end;
                    _rttStart = now;
                }
                if (_retransmitAt == Instant.MaxValue) _retransmitAt = now.AddMicroseconds(_rtt.Rto);
                _forceSendNow = false;
                _lastSendAt = now;
                break;
            case SegmentKind.Probe:
                if (_windowProbeNow) _stats.WindowProbes++;
                else _stats.KeepAliveProbes++;
                _windowProbeNow = false;
                _keepAliveProbeNow = false;
                break;
        }
        return true;
    }

    private bool SackBlocksDue => _sackPermitted && (_dsackPending || !_reassembler.IsEmpty);

    // The payload limit of the next segment: EffectiveMss less the SACK option bytes it will carry (RFC 6691: senders
    // subtract the option bytes of each segment; the TS option is already out of EffectiveMss).
    private int SegmentLimit()
    {
        if (!SackBlocksDue) return _effectiveMss;
        var baseline = _tsEnabled ? new TcpOptions { Timestamps = default(TcpTimestamps) } : default;
        return _effectiveMss - (WithSackBlocks(baseline).EmittedLength - baseline.EmittedLength);
    }

    // RFC 2018 §4: the first block holds the most recent arrival (or the D-SACK range, RFC 2883 §4), the others follow.
    private TcpOptions WithSackBlocks(in TcpOptions options)
    {
        Span<SackBlock> blocks = stackalloc SackBlock[TcpOptions.MaxSackBlocks];
        int n = 0;
        if (_dsackPending) blocks[n++] = new SackBlock(_dsackStart, _dsackEnd);
        // RFC 2018 §4: the block holding the newest arrival first, then the blocks of the arrivals before it (the most
        // recently reported first blocks), each once; any room left takes the remaining blocks in sequence order.
        Span<int> used = stackalloc int[TcpOptions.MaxSackBlocks];
        int usedCount = 0;
        for (int h = 0; h < _recentOutOfOrderCount && n < blocks.Length; h++)
        {
            int i = ReassemblyRangeHolding(_recentOutOfOrder[h]);
            if (i < 0 || used[..usedCount].Contains(i)) continue;
            used[usedCount++] = i;
            blocks[n++] = new SackBlock(_rcvNxt + _reassembler.GetStart(i), _rcvNxt + _reassembler.GetEnd(i));
        }
        for (int i = 0; i < _reassembler.Count && n < blocks.Length; i++)
        {
            if (used[..usedCount].Contains(i)) continue;
            blocks[n++] = new SackBlock(_rcvNxt + _reassembler.GetStart(i), _rcvNxt + _reassembler.GetEnd(i));
        }
        return options.WithSackBlocks(blocks[..n]);
    }

    // The out-of-order range that holds seq (-1: none; it was delivered or never kept).
    private int ReassemblyRangeHolding(SeqNumber seq)
    {
        if (seq < _rcvNxt) return -1;
        for (int i = 0; i < _reassembler.Count; i++)
            if (seq >= _rcvNxt + _reassembler.GetStart(i) && seq < _rcvNxt + _reassembler.GetEnd(i)) return i;
        return -1;
    }

    private TcpOptions SynOptions(Instant now)
    {
        // An active SYN offers what the configuration allows; a SYN-ACK only echoes what the peer offered (RFC 7323 §1.3).
        bool windowScale = _state == TcpState.SynSent ? _config.WindowScaling : _windowScaleNegotiated;
        bool timestamps = _state == TcpState.SynSent ? _config.Timestamps : _tsEnabled;
        bool sack = _state == TcpState.SynSent ? _config.Sack : _sackPermitted;
        return new TcpOptions
        {
            MaxSegmentSize = _config.Mss,
            SackPermitted = sack,
            WindowScale = windowScale ? _ourWindowShift : null,
            Timestamps = timestamps ? new TcpTimestamps(TsValAt(now), _state == TcpState.SynSent ? 0 : _tsRecent) : null,
        };
    }
}
