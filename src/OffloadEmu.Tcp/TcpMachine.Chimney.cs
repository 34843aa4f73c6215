using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Tcp;

public sealed partial class TcpMachine
{
    // Chimney values the machine does not interpret but must hand back unchanged (spec §2: HashValue, reserved fields).
    private uint _hashValue;
    private ushort _delegatedFlags;
    private uint _dWnd;
    private bool _sackPermitted;
    private TcpCachedState? _cached;

    /// <summary>
    /// Builds a connection from chimney offload state (initiate offload): TCP const, cached and delegated values, the
    /// outstanding send buffers (unacknowledged and unsent data starting at <c>SndUna</c>, the first one possibly partly
    /// acknowledged) and already-acknowledged receive data still to deliver.
    /// </summary>
    /// <remarks>
    /// Chimney spec §2 and §6.8: SRtt arrives ×8 and RttVar ×4 in ticks; timer deltas are remaining ticks (-1 off,
    /// 0 expire now); the retransmit delta serves the persist timer when the peer window is zero with nothing in flight,
    /// and the FIN_WAIT_2 timer in FIN-WAIT-2; TsTime is the timestamp clock value at offload, so TSval continues from it
    /// (monotone across upload and re-offload). The ISS and IRS are not part of the state and are taken as SndUna − 1 and
    /// RcvNxt − 1. Only ESTABLISHED through LAST-ACK can be offloaded (never CLOSED..SYN-RCVD or TIME-WAIT).
    /// </remarks>
    /// <exception cref="ArgumentException">The state cannot be offloaded, or the send data does not match it.</exception>
    public static TcpMachine FromOffloadState(TcpConfig config, in TcpEndpointAddresses addresses, in TcpConstState constState,
        in TcpCachedState cachedState, TcpDelegatedState delegatedState, ReadOnlySpan<ITcpSendBuffer> sendData, int sendDataHeadOffset,
        ReadOnlySpan<byte> bufferedReceiveData, Instant now)
        => Import(config, addresses, constState, cachedState, delegatedState, sendData, sendDataHeadOffset, bufferedReceiveData, now, uploading: false);

    /// <summary>
    /// The host's side of an upload: as <see cref="FromOffloadState"/>, and also TIME-WAIT, which a target hands back
    /// (it asks for the upload on entering it, spec §6.3) and the host keeps for the rest of its 2MSL (the retransmit
    /// delta is the remaining wait; none given: a full 2MSL).
    /// </summary>
    /// <exception cref="ArgumentException">The state cannot be continued, or the send data does not match it.</exception>
    public static TcpMachine FromUploadedState(TcpConfig config, in TcpEndpointAddresses addresses, in TcpConstState constState,
        in TcpCachedState cachedState, TcpDelegatedState delegatedState, ReadOnlySpan<ITcpSendBuffer> sendData, int sendDataHeadOffset,
        ReadOnlySpan<byte> bufferedReceiveData, Instant now)
        => Import(config, addresses, constState, cachedState, delegatedState, sendData, sendDataHeadOffset, bufferedReceiveData, now, uploading: true);

    // The configuration a machine keeps is usually the same for every connection an owner imports (same parameters,
    // window and cached state): one object per run of equal configurations instead of one per connection (~150 bytes of
    // every idle offloaded connection, issue 7 "Scale"). Per thread, so nothing is locked.
    [ThreadStatic]
    private static TcpConfig? t_lastImportedConfig;

    private static TcpConfig Shared(TcpConfig config)
    {
        var last = t_lastImportedConfig;
        if (last is not null && last.Equals(config)) return last;
        t_lastImportedConfig = config;
        return config;
    }

    private static TcpMachine Import(TcpConfig config, in TcpEndpointAddresses addresses, in TcpConstState constState,
        in TcpCachedState cachedState, TcpDelegatedState delegatedState, ReadOnlySpan<ITcpSendBuffer> sendData, int sendDataHeadOffset,
        ReadOnlySpan<byte> bufferedReceiveData, Instant now, bool uploading)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(delegatedState);
        var d = delegatedState;
        if (d.State is < TcpState.Established or > TcpState.LastAck && !(uploading && d.State == TcpState.TimeWait))
            throw new ArgumentException($"A connection in {d.State} cannot be {(uploading ? "continued after an upload" : "offloaded")} (chimney spec §2).", nameof(delegatedState));
        int bufferSize = (int)Math.Min(1u << 30, Math.Max((uint)config.ReceiveBufferSize, Math.Max(d.RcvWnd, (uint)bufferedReceiveData.Length + d.RcvWnd)));
        var effective = Shared(config.WithCachedState(cachedState) with { ReceiveBufferSize = bufferSize });
        var m = new TcpMachine(effective, addresses, constState.LocalPort, constState.RemotePort);
        m._cached = cachedState;
        m._hashValue = constState.HashValue;
        m._delegatedFlags = d.Flags;
        m._dWnd = d.DWnd;
        m._state = d.State;

        // Const: negotiated options.
        var flags = constState.Flags;
        m._windowScaleNegotiated = (flags & TcpConstFlags.WindowScaling) != 0;
        m._sndWindShift = constState.SndWindScale;
        m._rcvWindShift = constState.RcvWindScale;
        m._tsEnabled = (flags & TcpConstFlags.Timestamp) != 0;
        m._sackPermitted = (flags & TcpConstFlags.Sack) != 0;
        m._remoteMss = constState.RemoteMss;
        m._effectiveMss = EffectiveMssFor(constState.RemoteMss, effective.Mss, m._tsEnabled);

        // Send sequence space and the send queue.
        m.InitSendSequence(d.SndUna - 1);
        m._synAcked = true;
        m._sndUna = d.SndUna;
        m._sndNxt = d.SndNxt;
        m._sndMax = d.SndMax;
        m._sndWnd = d.SndWnd;
        m._maxSndWnd = d.MaxSndWnd;
        m._sndWl1 = d.SendWL1;
        m._sndWl2 = d.SndUna;
        m._recover = d.SndUna - 1; // no recovery in progress: duplicate ACKs may start one
        long queued = 0;
        foreach (var buffer in sendData)
        {
            m._sendQueue.Enqueue(buffer);
            queued += buffer.Length;
        }
        if (sendDataHeadOffset < 0 || (sendData.Length > 0 && sendDataHeadOffset > sendData[0].Length))
            throw new ArgumentOutOfRangeException(nameof(sendDataHeadOffset));
        m._sendQueue.SetHeadAcknowledged(sendDataHeadOffset);
        m._sndDataEnd = d.SndUna + (int)(queued - sendDataHeadOffset);
        if (m._state is TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
        {
            m._finQueued = true;
            m._finSeq = m._sndDataEnd;
            if (d.SndMax > m._finSeq + 1)
                throw new ArgumentException("SndMax lies beyond the FIN implied by the send data.", nameof(sendData));
        }
        else if (m._state == TcpState.FinWait2)
        {
            m._finQueued = true;
            m._finSeq = d.SndUna - 1;
        }

        // Receive sequence space; buffered (already acknowledged) data is delivered before anything new.
        m._irs = d.RcvNxt - 1;
        m._rcvNxt = d.RcvNxt;
        m._rcvAdvEdge = d.RcvNxt + (int)d.RcvWnd;
        m._lastAckSent = d.RcvNxt;
        if (!bufferedReceiveData.IsEmpty)
        {
            m._rx.WriteAt(0, bufferedReceiveData);
            m._rx.Commit(bufferedReceiveData.Length);
        }

        // Congestion control and RTT (SRtt ×8, RttVar ×4, in ticks).
        m._cc.Reset(m._effectiveMss, d.CWnd, d.SsThresh);
        long tick = effective.TickMicroseconds;
        if (d.SRtt != 0 || d.RttVar != 0)
        {
            m._rtt.SRtt = d.SRtt * tick / TcpDelegatedState.SRttScale;
            m._rtt.RttVar = d.RttVar * tick / TcpDelegatedState.RttVarScale;
            m._rtt.HasSample = true;
            m._rtt.Recompute();
        }
        for (int i = 0; i < d.Retransmit.Count; i++) m._rtt.Backoff();

        // Timestamps: TSval continues from TsTime; TsRecentAge is the age of TsRecent in ticks.
        m._tsRecent = d.TsRecent;
        m._tsRecentAge = now.AddMicroseconds(-(long)d.TsRecentAge * tick);
        m._tsOffset = unchecked(d.TsTime - (uint)now.Milliseconds);

        // Counters and timers.
        m._retransmitCount = d.Retransmit.Count;
        if (d.TotalRT != 0 && (cachedState.Flags & TcpCachedFlags.MaxRtRestart) == 0)
        {
            m._totalRtActive = true;
            m._firstRetransmitAt = now.AddMicroseconds(-(long)d.TotalRT * tick);
        }
        m._dupAckCount = d.DupAckCount;
        m._persistBackoff = d.SndWndProbeCount;
        m._keepAliveProbesSent = d.KeepAlive.ProbeCount;
        m._keepAliveAt = m.FromDelta(d.KeepAlive.TimeoutDelta, now);
        var retransmitAt = m.FromDelta(d.Retransmit.TimeoutDelta, now);
        if (m._state == TcpState.FinWait2) m._closeTimerAt = retransmitAt;
        else if (m._state == TcpState.TimeWait) m._closeTimerAt = retransmitAt != Instant.MaxValue ? retransmitAt : now + 2 * config.Msl; // the 2MSL wait goes on
        else if (d.SndWnd == 0 && d.SndMax == d.SndUna && retransmitAt != Instant.MaxValue) m._persistAt = retransmitAt;
        else if (retransmitAt == Instant.MaxValue && d.SndMax != d.SndUna && HasRetransmissionTimer(m._state))
            m._retransmitAt = now.AddMicroseconds(m._rtt.Rto); // data in flight with the timer "not running": RFC 6298 §5.1 starts it
        else m._retransmitAt = retransmitAt;
        m._lastSendAt = now;
        return m;
    }

    /// <summary>True when an ACK is owed now (not merely delayed): the TcpAckFrequency-th segment, out-of-order data,
    /// a window update. A caller that feeds a batch of segments dispatches when this turns true, so a burst is
    /// ACKed every TcpAckFrequency segments instead of once for the whole batch (a stretch ACK).</summary>
    public bool AckDue => _ackNow;

    /// <summary>Turns an owed delayed ACK into an immediate one, so the next <see cref="Dispatch"/> sends it: the delayed-ACK
    /// timer is flushed, not transferred, at terminate offload (chimney spec §6.6, §6.8). Returns true if an ACK was owed.</summary>
    public bool FlushDelayedAck()
    {
        if (_delayedAckAt == Instant.MaxValue && !_ackNow) return false;
        _delayedAckAt = Instant.MaxValue;
        _ackNow = true;
        return true;
    }

    /// <summary>The TCP const state of this connection (chimney spec §2).</summary>
    public TcpConstState ExportConstState()
        => new()
        {
            Flags = (_tsEnabled ? TcpConstFlags.Timestamp : TcpConstFlags.None)
                    | (_sackPermitted ? TcpConstFlags.Sack : TcpConstFlags.None)
                    | (_windowScaleNegotiated ? TcpConstFlags.WindowScaling : TcpConstFlags.None),
            RemotePort = _remotePort,
            LocalPort = _localPort,
            SndWindScale = _sndWindShift,
            RcvWindScale = _rcvWindShift,
            RemoteMss = _remoteMss,
            HashValue = _hashValue,
        };

    /// <summary>The TCP cached state: as imported (or last updated), or derived from the configuration for a
    /// connection opened by handshake.</summary>
    public TcpCachedState ExportCachedState()
        => _cached ?? new TcpCachedState
        {
            Flags = (_config.KeepAlive ? TcpCachedFlags.KeepAliveEnabled : TcpCachedFlags.None)
                    | (_config.Nagle ? TcpCachedFlags.NaglingEnabled : TcpCachedFlags.None),
            InitialRcvWnd = (uint)_config.ReceiveBufferSize,
            KaProbeCount = (byte)Math.Min(_config.KaProbeCount, byte.MaxValue),
            KaTimeout = _config.KaTimeoutTicks,
            KaInterval = _config.KaIntervalTicks,
            MaxRT = _config.MaxRT,
        };

    /// <summary>Applies an update of the cached state (chimney UpdateOffload): keep-alive, Nagle, MaxRT; MAX_RT_RESTART
    /// zeroes TotalRT, KEEP_ALIVE_RESTART restarts the keep-alive timer, and UPDATE_RCV_WND makes InitialRcvWnd the
    /// receive buffer: a larger one is advertised at once (a window update), a smaller one as the data is consumed
    /// (the right edge never moves left, RFC 9293 §3.8.6.2.1). Without UPDATE_RCV_WND the buffer stays as it was.</summary>
    /// <remarks>Chimney spec §2 (cached flags), §6.7.</remarks>
    public void UpdateCachedState(in TcpCachedState cached, Instant now)
    {
        int buffer = _config.ReceiveBufferSize;
        if ((cached.Flags & TcpCachedFlags.UpdateRcvWnd) != 0) buffer = (int)Math.Clamp(cached.InitialRcvWnd, 1u, 1u << 30);
        _config = _config.WithCachedState(cached) with { ReceiveBufferSize = buffer };
        _cached = cached;
        if ((cached.Flags & TcpCachedFlags.MaxRtRestart) != 0) _totalRtActive = false;
        if ((cached.Flags & TcpCachedFlags.KeepAliveRestart) != 0 || !_config.KeepAlive) ArmKeepAlive(now);
        if ((cached.Flags & TcpCachedFlags.UpdateRcvWnd) != 0)
        {
            _rx.Grow(buffer);
            if (WindowToAdvertise() > (int)RcvWnd && _state is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2) _ackNow = true;
        }
    }

    /// <summary>Writes the delegated state at <paramref name="now"/> into <paramref name="state"/> (query and
    /// terminate). Send and receive data are not attached: see <see cref="CopySendBuffers"/> and <see cref="Receive"/>.</summary>
    /// <remarks>Chimney spec §2, §6.6 (remaining ticks or -1, TsTime = current TSval clock, SRtt ×8, RttVar ×4).</remarks>
    public void ExportDelegatedState(TcpDelegatedState state, Instant now)
    {
        ArgumentNullException.ThrowIfNull(state);
        long tick = _config.TickMicroseconds;
        state.State = _state;
        state.Flags = _delegatedFlags;
        state.RcvNxt = _rcvNxt;
        state.RcvWnd = RcvWnd;
        state.SndUna = _sndUna;
        state.SndNxt = _sndNxt;
        state.SndMax = _sndMax;
        state.SndWnd = _sndWnd;
        state.MaxSndWnd = _maxSndWnd;
        state.SendWL1 = _sndWl1;
        state.CWnd = _cc.CWnd;
        state.SsThresh = _cc.SsThresh;
        state.SRtt = (ushort)Math.Min(ushort.MaxValue, _rtt.SRtt * TcpDelegatedState.SRttScale / tick);
        state.RttVar = (ushort)Math.Min(ushort.MaxValue, _rtt.RttVar * TcpDelegatedState.RttVarScale / tick);
        state.TsRecent = _tsRecent;
        state.TsRecentAge = (uint)Math.Clamp((now.Microseconds - _tsRecentAge.Microseconds) / tick, 0, uint.MaxValue);
        state.TsTime = TsValAt(now);
        state.TotalRT = TotalRTTicks(now);
        state.DupAckCount = (byte)Math.Min(_dupAckCount, byte.MaxValue);
        state.SndWndProbeCount = (byte)Math.Min(_persistBackoff, byte.MaxValue);
        state.KeepAlive = new TcpKeepAliveState((byte)Math.Min(_keepAliveProbesSent, byte.MaxValue), ToDelta(_keepAliveAt, now));
        var retransmitTimer = _state is TcpState.FinWait2 or TcpState.TimeWait ? _closeTimerAt
            : _persistAt != Instant.MaxValue ? _persistAt : _retransmitAt;
        // A retransmission timer that ran out its limit (R2) with data still in flight is exported as expired (0), not
        // as stopped (-1): the owner that continues the connection (the host after Retrieve(TimeoutExpiration)) must
        // see the timeout and apply its own limit, not wait for an ACK that will never come.
        if (retransmitTimer == Instant.MaxValue && _retransmitLimitHit && _sndMax != _sndUna && HasRetransmissionTimer(_state)) retransmitTimer = now;
        state.Retransmit = new TcpRetransmitState((byte)Math.Min(_retransmitCount, byte.MaxValue), ToDelta(retransmitTimer, now));
        state.SendBacklogSize = TcpDelegatedState.SendBacklogUnsupported;
        state.ReceiveBacklogSize = (uint)_rx.Count;
        state.DWnd = _dWnd;
    }

    /// <summary>The delegated state at <paramref name="now"/> as a new object.</summary>
    public TcpDelegatedState ExportDelegatedState(Instant now)
    {
        var state = new TcpDelegatedState();
        ExportDelegatedState(state, now);
        return state;
    }

    /// <summary>Adds the queued send buffers (oldest first) to <paramref name="destination"/> and returns how many bytes
    /// of the first one are already acknowledged (for terminate offload, chimney spec §5/§6.6).</summary>
    public int CopySendBuffers(ICollection<ITcpSendBuffer> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        _sendQueue.CopyBuffersTo(destination);
        return _sendQueue.HeadAcknowledged;
    }

    private static bool HasRetransmissionTimer(TcpState state)
        => state is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck;

    // Remaining ticks, rounded up so a timer never fires early after a round trip; -1 when off.
    private int ToDelta(Instant at, Instant now)
    {
        if (at == Instant.MaxValue) return TcpDelegatedState.TimerOff;
        if (at <= now) return 0;
        long tick = _config.TickMicroseconds;
        return (int)Math.Min(int.MaxValue, (at.Microseconds - now.Microseconds + tick - 1) / tick);
    }

    private Instant FromDelta(int delta, Instant now)
        => delta < 0 ? Instant.MaxValue : now.AddMicroseconds(delta * _config.TickMicroseconds);
}
