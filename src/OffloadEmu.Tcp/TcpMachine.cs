using OffloadEmu.Tcp.Congestion;
using OffloadEmu.Wire;

namespace OffloadEmu.Tcp;

/// <summary>
/// One TCP connection as a sans-I/O state machine (the shape of smoltcp's TCP socket): the owner feeds received
/// segments with <see cref="Process"/> (or <see cref="ProcessSegment(Span{byte}, Instant)"/> for raw bytes), lets the machine write the
/// segments it wants sent with <see cref="Dispatch"/>, and calls again no later than <see cref="PollAt"/>. The machine
/// never reads a clock, does no I/O and allocates nothing per segment.
/// </summary>
/// <remarks>
/// <para>RFC 9293 §3.3.2 (states), §3.10 (event processing), RFC 5961 (blind in-window attacks), RFC 6298 (RTO),
/// RFC 5681/6582/3042/6928 (congestion control, through <see cref="ICongestionControl"/>), RFC 7323 (window scaling,
/// timestamps, PAWS), RFC 6691 (MSS accounting). State is kept under the chimney delegated-state names (spec §2) so the
/// import/export mapping is one to one.</para>
/// <para>Decisions: a segment whose options have an illegal length is dropped and counted in
/// <see cref="TcpStatistics.InErrors"/> (RFC 9293 MUST-7 allows either; dropping does not hand a blind attacker a way to
/// reset). A LISTEN machine is bound to one local and one remote address (the owner demultiplexes SYNs and creates a
/// machine per SYN, as a chimney host does); the remote port is learned from the SYN. Data carried on a SYN is not
/// queued (the peer retransmits it). The ACK range check uses SndMax (the highest sequence sent) rather than SndNxt,
/// because SndNxt is pulled back to SndUna on a retransmission timeout.</para>
/// </remarks>
public sealed partial class TcpMachine
{
    private const int TimestampOptionLength = 12;
    private const int MaxDispatchSegments = 100_000;

    private TcpConfig _config;
    private readonly TcpEndpointAddresses _addresses;
    private readonly ulong _pseudoHeaderBase;
    private readonly ICongestionControl _cc;
    private readonly SendQueue _sendQueue = new();
    private readonly ReceiveRing _rx;
    // The oldest in-order bytes of _rx that the consumer holds in storage of its own (ITcpReceiveConsumer.Hold): counted
    // in _rx (space and window) but not written into it.
    private int _rxHeld;
    private readonly Reassembler _reassembler;
    private readonly byte _ourWindowShift;

    private TcpState _state;
    private ushort _localPort;
    private ushort _remotePort;
    private bool _passiveOpen;

    // Send sequence space (RFC 9293 §3.3.1).
    private SeqNumber _iss;
    // The SYN is acknowledged: from then on SND.UNA, not ISS + 1, is where unacknowledged data starts.
    private bool _synAcked;
    private SeqNumber _sndUna;
    private SeqNumber _sndNxt;
    private SeqNumber _sndMax;
    private uint _sndWnd;
    private uint _maxSndWnd;
    private SeqNumber _sndWl1;
    private SeqNumber _sndWl2;
    // Sequence number after the last queued data byte; the FIN, when queued, takes this number.
    private SeqNumber _sndDataEnd;
    private bool _finQueued;
    private SeqNumber _finSeq;

    // Receive sequence space.
    private SeqNumber _irs;
    private SeqNumber _rcvNxt;
    // Right edge of the window we last advertised; never moves left (RFC 9293 §3.8.6.2.2, SHLD-14).
    private SeqNumber _rcvAdvEdge;
    private bool _finReceivedOutOfOrder;
    // SACK generation (RFC 2018 §4): the starts of the most recent out-of-order arrivals, newest first (the blocks
    // holding them are reported in that order: the first block is the newest arrival's, the others repeat the most
    // recently reported ones), and a pending D-SACK range.
    // (Empty until the first out-of-order arrival.)
    private SeqNumber[] _recentOutOfOrder = [];
    private int _recentOutOfOrderCount;
    private bool _dsackPending;
    private SeqNumber _dsackStart;
    private SeqNumber _dsackEnd;
    private SeqNumber _pendingFinSeq;

    // Negotiated options.
    private byte _sndWindShift;
    private byte _rcvWindShift;
    private bool _windowScaleNegotiated;
    private ushort _remoteMss;
    private int _effectiveMss;
    private bool _tsEnabled;
    private uint _tsRecent;
    private Instant _tsRecentAge;
    private uint _tsOffset;
    private SeqNumber _lastAckSent;
    private bool _synRetransmitted;

    // RTT measurement and retransmission.
    private RttEstimator _rtt;
    private bool _rttTiming;
    private SeqNumber _rttSeq;
    private Instant _rttStart;
    private int _retransmitCount;
    private Instant _firstRetransmitAt;
    private bool _totalRtActive;
    private Instant _retransmitAt = Instant.MaxValue;

    /// <summary>The retransmission limit (R2) was reached and reported (RetransmitTimeout); the timer stays stopped.</summary>
    private bool _retransmitLimitHit;

    // Loss recovery (RFC 5681 §3.2, RFC 6582).
    private int _dupAckCount;
    private bool _inRecovery;
    private SeqNumber _recover;
    private bool _retransmitHeadNow;
    // SACK-based recovery (RFC 6675): what the peer SACKed and what was retransmitted in this recovery (marks in the
    // scoreboard), and whether the once-per-episode rescue retransmission went.
    private readonly SackScoreboard _scoreboard = new(8);
    private bool _rescueSent;
    // Spurious-recovery undo (RFC 2883 §4, RFC 3708): the window before the last SACK recovery episode, its sequence
    // range, the bytes it retransmitted and the bytes D-SACKs have shown to be needless copies.
    private bool _undoValid;
    private uint _undoCWnd;
    private uint _undoSsThresh;
    private SeqNumber _undoStart;
    private SeqNumber _undoEnd;
    private long _undoRetransmitted;
    private long _undoDsacked;
    // The last D-SACK counted: the peer repeats a D-SACK when more copies of the same segment arrive, count it once.
    private SeqNumber _lastDsackStart;
    private SeqNumber _lastDsackEnd;

    // ACK generation.
    private bool _ackNow;
    private int _segmentsUnacked;
    private Instant _delayedAckAt = Instant.MaxValue;
    private Instant _nextChallengeAckAt = Instant.MinValue;

    // Persist (zero window) and keep-alive.
    private Instant _persistAt = Instant.MaxValue;
    private int _persistBackoff;
    private int _unansweredProbes;
    private bool _windowProbeNow;
    private bool _forceSendNow;
    private Instant _keepAliveAt = Instant.MaxValue;
    private int _keepAliveProbesSent;
    private bool _keepAliveProbeNow;

    // TIME-WAIT (2MSL) and FIN_WAIT_2 timers.
    private Instant _closeTimerAt = Instant.MaxValue;
    private Instant _lastSendAt;

    // A RST to send (replies to segments for no connection, or an abort).
    private bool _rstPending;
    private SeqNumber _rstSeq;
    private SeqNumber? _rstAck;
    private ushort _rstPort;

    private TcpEvents _events;
    private TcpStatistics _stats;

    private TcpMachine(TcpConfig config, in TcpEndpointAddresses addresses, ushort localPort, ushort remotePort)
    {
        if (config.TicksPerSecond is not (10 or 100 or 1000)) throw new ArgumentException("TicksPerSecond must be 10, 100 or 1000.", nameof(config));
        // RFC 9293 §3.8.6.3 MUST-40: an ACK must not be delayed by 0.5 s or more.
        if (config.TicksToMicroseconds(config.DelayedAckTicks) >= 500_000 || config.DelayedAckTicks < 0)
            throw new ArgumentException("DelayedAckTicks must stay below 500 ms (RFC 9293 MUST-40).", nameof(config));
        if (config.ReceiveBufferSize < 1 || config.MaxReassemblyRanges < 1 || config.AckFrequency < 1)
            throw new ArgumentException("ReceiveBufferSize, MaxReassemblyRanges and AckFrequency must be positive.", nameof(config));
        _config = config;
        _addresses = addresses;
        _pseudoHeaderBase = addresses.PseudoHeaderBase;
        _localPort = localPort;
        _remotePort = remotePort;
        _cc = config.CongestionControlFactory?.Invoke() ?? new NewReno();
        _rx = new ReceiveRing(config.ReceiveBufferSize, config.ReceiveBufferPool ?? ReceiveBufferPool.Shared);
        _reassembler = new Reassembler(config.MaxReassemblyRanges);
        _ourWindowShift = WindowShiftFor(config.ReceiveBufferSize);
        _rtt = new RttEstimator(config.InitialRto.Ticks / 10, config.MinRto.Ticks / 10, config.MaxRto.Ticks / 10, config.TickMicroseconds);
        _remoteMss = addresses.IsIpv6 ? (ushort)1220 : (ushort)536;
        _effectiveMss = _remoteMss;
    }

    /// <summary>Active open: a machine in SYN-SENT whose first <see cref="Dispatch"/> sends the SYN.</summary>
    /// <remarks>RFC 9293 §3.10.1 (OPEN call, active), ISN per RFC 6528.</remarks>
    public static TcpMachine Connect(TcpConfig config, in TcpEndpointAddresses addresses, ushort localPort, ushort remotePort, Instant now)
    {
        var isn = config.IsnGenerator ?? IsnGenerator.CreateRandom();
        return Connect(config, addresses, localPort, remotePort, now, new SeqNumber(isn.Generate(addresses, localPort, remotePort, now)),
            isn.TimestampOffset(addresses, localPort, remotePort));
    }

    internal static TcpMachine Connect(TcpConfig config, in TcpEndpointAddresses addresses, ushort localPort, ushort remotePort,
        Instant now, SeqNumber iss, uint timestampOffset)
    {
        var m = new TcpMachine(config, addresses, localPort, remotePort);
        m._tsOffset = timestampOffset;
        m.InitSendSequence(iss);
        m._state = TcpState.SynSent;
        m._lastSendAt = now;
        return m;
    }

    /// <summary>Passive open: a machine in LISTEN for SYNs from <paramref name="addresses"/>' remote address to
    /// <paramref name="localPort"/>.</summary>
    /// <remarks>RFC 9293 §3.10.1 (OPEN call, passive), §3.10.7.2 (LISTEN).</remarks>
    public static TcpMachine Listen(TcpConfig config, in TcpEndpointAddresses addresses, ushort localPort)
        => new(config, addresses, localPort, 0) { _state = TcpState.Listen, _passiveOpen = true };

    // RFC 9293 §3.7.1 MUST-16 / RFC 6691: the smaller MSS minus the option bytes every segment carries. A peer announcing
    // an absurdly small MSS (0, 1, ...) is held to 48 bytes of payload, Linux's tcp_min_snd_mss, so a hostile SYN cannot
    // make the machine send one-byte segments (or none at all).
    private const int MinEffectiveMss = 48;

    private static int EffectiveMssFor(ushort remoteMss, ushort localMss, bool timestamps)
        => Math.Max(Math.Min((int)remoteMss, localMss) - (timestamps ? TimestampOptionLength : 0), MinEffectiveMss);

    private static byte WindowShiftFor(int bufferSize)
    {
        byte shift = 0;
        while (shift < 14 && (bufferSize >> shift) > ushort.MaxValue) shift++;
        return shift;
    }

    private void InitSendSequence(SeqNumber iss)
    {
        _iss = iss;
        _sndUna = iss;
        _sndNxt = iss;
        _sndMax = iss;
        _sndDataEnd = iss + 1;
        _recover = iss;
    }

    // ---- Observable state (chimney delegated names) -------------------------------------------------------------

    /// <summary>Connection state.</summary>
    public TcpState State => _state;

    /// <summary>Local port.</summary>
    public ushort LocalPort => _localPort;

    /// <summary>Remote port (0 in LISTEN).</summary>
    public ushort RemotePort => _remotePort;

    /// <summary>The IP addresses of the connection.</summary>
    public TcpEndpointAddresses Addresses => _addresses;

    /// <summary>True when the connection came from a passive open (RFC 9293 §3.10.7.4 MUST-11).</summary>
    public bool IsPassiveOpen => _passiveOpen;

    /// <summary>Initial send sequence number.</summary>
    public SeqNumber Iss => _iss;

    /// <summary>Initial receive sequence number.</summary>
    public SeqNumber Irs => _irs;

    /// <summary>Oldest unacknowledged sequence number.</summary>
    public SeqNumber SndUna => _sndUna;

    /// <summary>Next sequence number to send.</summary>
    public SeqNumber SndNxt => _sndNxt;

    /// <summary>Highest sequence number sent (chimney SndMax).</summary>
    public SeqNumber SndMax => _sndMax;

    /// <summary>Peer's receive window in bytes (scaled).</summary>
    public uint SndWnd => _sndWnd;

    /// <summary>Largest window the peer has offered.</summary>
    public uint MaxSndWnd => _maxSndWnd;

    /// <summary>Segment sequence number of the last window update (SND.WL1).</summary>
    public SeqNumber SendWL1 => _sndWl1;

    /// <summary>Next sequence number expected.</summary>
    public SeqNumber RcvNxt => _rcvNxt;

    /// <summary>Receive window currently offered to the peer (right edge minus RcvNxt).</summary>
    public uint RcvWnd => (uint)Math.Max(0, _rcvAdvEdge - _rcvNxt);

    /// <summary>Congestion window in bytes.</summary>
    public uint CWnd => _cc.CWnd;

    /// <summary>Slow-start threshold in bytes.</summary>
    public uint SsThresh => _cc.SsThresh;

    /// <summary>Smoothed RTT (zero before the first sample).</summary>
    public TimeSpan SRtt => TimeSpan.FromTicks(_rtt.SRtt * 10);

    /// <summary>RTT variation.</summary>
    public TimeSpan RttVar => TimeSpan.FromTicks(_rtt.RttVar * 10);

    /// <summary>Current retransmission timeout (including backoff).</summary>
    public TimeSpan Rto => TimeSpan.FromTicks(_rtt.Rto * 10);

    /// <summary>Most recent valid TSval from the peer (RFC 7323 §4.3).</summary>
    public uint TsRecent => _tsRecent;

    /// <summary>Duplicate ACKs counted since the last new ACK.</summary>
    public int DupAckCount => _dupAckCount;

    /// <summary>Consecutive retransmission timeouts of the current data.</summary>
    public int RetransmitCount => _retransmitCount;

    /// <summary>Zero-window probe backoff exponent (chimney SndWndProbeCount).</summary>
    public int SndWndProbeCount => _persistBackoff;

    /// <summary>Unanswered keep-alive probes.</summary>
    public int KeepAliveProbeCount => _keepAliveProbesSent;

    /// <summary>Peer's MSS (from its SYN, or the RFC 9293 default).</summary>
    public ushort RemoteMss => _remoteMss;

    /// <summary>Payload bytes per full segment after subtracting the options every segment carries (RFC 6691).</summary>
    public int EffectiveMss => _effectiveMss;

    /// <summary>Send window shift negotiated (0 without window scaling).</summary>
    public byte SndWindScale => _sndWindShift;

    /// <summary>Receive window shift negotiated.</summary>
    public byte RcvWindScale => _rcvWindShift;

    /// <summary>SACK negotiated (RFC 2018): ACKs carry SACK and D-SACK blocks.</summary>
    public bool SackEnabled => _sackPermitted;

    /// <summary>Timestamps negotiated.</summary>
    public bool TimestampsEnabled => _tsEnabled;

    /// <summary>The timestamp clock value this machine would send at <paramref name="now"/> (RFC 7323 §5.4).</summary>
    public uint TsValAt(Instant now) => unchecked((uint)now.Milliseconds + _tsOffset);

    /// <summary>True during NewReno fast recovery.</summary>
    public bool InRecovery => _inRecovery;

    /// <summary>Unacknowledged bytes held in the send queue (sent or not).</summary>
    public long SendQueueBytes => _sendQueue.Bytes;

    /// <summary>Queued bytes not yet sent.</summary>
    public long UnsentBytes => Math.Max(0, _sndDataEnd - (!_synAcked && _sndNxt == _iss ? _iss + 1 : _sndNxt));

    /// <summary>In-order bytes held because the consumer has not taken them.</summary>
    public int ReceiveBufferedBytes => _rx.Count;

    /// <summary>The oldest of <see cref="ReceiveBufferedBytes"/> that the consumer holds itself (taken by
    /// <see cref="ITcpReceiveConsumer.Hold"/>, not yet consumed or written back).</summary>
    public int ReceiveHeldBytes => _rxHeld;

    /// <summary>Out-of-order ranges currently held.</summary>
    public int OutOfOrderRanges => _reassembler.Count;

    /// <summary>Per-connection counters.</summary>
    public TcpStatistics Statistics => _stats;

    /// <summary>Events not yet taken.</summary>
    public TcpEvents PendingEvents => _events;

    /// <summary>Returns and clears the pending events.</summary>
    public TcpEvents TakeEvents()
    {
        var e = _events;
        _events = TcpEvents.None;
        return e;
    }

    /// <summary>Where in-order received data goes (null: it stays buffered for <see cref="Receive"/>).</summary>
    public ITcpReceiveConsumer? ReceiveConsumer { get; set; }

    /// <summary>Told when queued send buffers are fully acknowledged.</summary>
    public ITcpSendCompletionSink? SendCompletionSink { get; set; }

    // ---- User calls (RFC 9293 §3.10.2–3.10.5) -----------------------------------------------------------------------

    /// <summary>Queues a caller-owned buffer for sending; false when the send half is closed (after <see cref="Close"/>
    /// or in a state that cannot send).</summary>
    /// <remarks>RFC 9293 §3.10.2: data may be queued in SYN-SENT and SYN-RECEIVED and is sent once established.</remarks>
    public bool Enqueue(ITcpSendBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (_finQueued) return false;
        if (_state is not (TcpState.SynSent or TcpState.SynRcvd or TcpState.Established or TcpState.CloseWait)) return false;
        _sendQueue.Enqueue(buffer);
        _sndDataEnd += buffer.Length;
        return true;
    }

    /// <summary>Closes the send half: a FIN follows the queued data. In LISTEN or SYN-SENT the machine just closes.</summary>
    /// <remarks>RFC 9293 §3.10.4.</remarks>
    public void Close()
    {
        switch (_state)
        {
            case TcpState.Listen:
            case TcpState.SynSent:
                EnterClosed();
                break;
            case TcpState.SynRcvd:
            case TcpState.Established:
                QueueFin();
                _state = TcpState.FinWait1;
                break;
            case TcpState.CloseWait:
                QueueFin();
                _state = TcpState.LastAck;
                break;
        }
    }

    /// <summary>Aborts: sends a RST (in synchronized states) and goes to CLOSED; queued buffers are released uncompleted.</summary>
    /// <remarks>RFC 9293 §3.10.5.</remarks>
    public void Abort()
    {
        if (_state is TcpState.SynRcvd or TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait)
        {
            _rstPending = true;
            _rstPort = _remotePort;
            _rstSeq = _sndMax;
            _rstAck = null;
        }
        EnterClosed();
    }

    /// <summary>Copies buffered in-order data into <paramref name="destination"/>; returns the bytes read.</summary>
    public int Receive(Span<byte> destination)
    {
        if (_rxHeld > 0) throw new InvalidOperationException("The receive consumer holds the oldest buffered bytes.");
        int n = _rx.Read(destination);
        ReleaseReceiveBufferIfEmpty();
        return n;
    }

    /// <summary>Copies buffered in-order received data, starting <paramref name="offset"/> bytes after the oldest, into
    /// <paramref name="destination"/> without consuming it; returns the bytes copied.</summary>
    /// <remarks>Chimney spec §3: the offload target copies data into a receive indication and consumes it only when the
    /// host accepts it, so a refusal leaves the data (and the closed window) where it was.</remarks>
    public int PeekReceived(int offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        // Held bytes are not in the ring (the consumer has them).
        ArgumentOutOfRangeException.ThrowIfLessThan(offset, _rxHeld);
        return _rx.CopyTo(offset, destination);
    }

    /// <summary>Drops <paramref name="count"/> bytes of buffered in-order data that the owner delivered elsewhere; the
    /// window opens by that much (a window update follows at the next dispatch when it opened enough).</summary>
    public void ConsumeReceived(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _rx.Count);
        _rxHeld -= Math.Min(count, _rxHeld); // the held bytes are the oldest: they go first
        _rx.Consume(count);
        ReleaseReceiveBufferIfEmpty();
    }

    /// <summary>Puts held bytes back into the buffer (the consumer will not deliver them itself after all, e.g. the host
    /// refused the indication carrying them): <paramref name="data"/> is written <paramref name="offset"/> bytes after
    /// the oldest held byte. Once every held byte was written, <see cref="EndHold"/>.</summary>
    public void WriteHeldBytes(int offset, ReadOnlySpan<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + data.Length, _rxHeld);
        _rx.WriteFromRead(offset, data);
    }

    /// <summary>The held bytes are all in the buffer again (<see cref="WriteHeldBytes"/>): the machine delivers them.</summary>
    public void EndHold() => _rxHeld = 0;

    /// <summary>True while the machine holds receive buffer storage (from its <see cref="TcpConfig.ReceiveBufferPool"/>):
    /// only while in-order bytes wait for the consumer or out-of-order bytes wait for a hole to fill.</summary>
    public bool HoldsReceiveBuffer => _rx.HasBuffer;

    /// <summary>For an owner that is done with the machine (upload handed its state on, connection freed): drops whatever
    /// receive data it still holds and gives the storage back to the pool now rather than to the garbage collector. The
    /// machine must not receive again.</summary>
    public void ReleaseReceiveBuffer()
    {
        _rxHeld = 0;
        _reassembler.Clear();
        _rx.Release();
    }

    // The storage goes back to the pool as soon as nothing is buffered in it: no in-order bytes and no out-of-order ones.
    private void ReleaseReceiveBufferIfEmpty()
    {
        if (_rx.Count == 0 && _reassembler.IsEmpty) _rx.Release();
    }

    /// <summary>Sets the largest segment the path allows (path MTU minus IP and TCP headers, chimney cached
    /// <c>PathMtu</c> after an update, spec §6.7); the effective MSS becomes the smaller of it and the peer's MSS, minus
    /// options. Data already sent keeps its segmentation.</summary>
    public void SetPathMss(ushort mss)
    {
        _config = _config with { Mss = mss };
        _effectiveMss = EffectiveMssFor(_remoteMss, mss, _tsEnabled);
        _cc.Reset(_effectiveMss, _cc.CWnd, _cc.SsThresh);
    }

    /// <summary>Offers buffered in-order data to <see cref="ReceiveConsumer"/> again (after it gained room); returns
    /// the bytes it took. A window update follows at the next dispatch if the window opened enough.</summary>
    public int DeliverBuffered()
    {
        var consumer = ReceiveConsumer;
        // The consumer holds older bytes: it delivers those first (and then calls again).
        if (consumer is null || _rxHeld > 0) return 0;
        int total = 0;
        while (_rx.Count > 0)
        {
            var run = _rx.Peek();
            int taken = consumer.Deliver(run);
            if (taken <= 0) break;
            taken = Math.Min(taken, run.Length);
            _rx.Consume(taken);
            total += taken;
            if (taken < run.Length) break;
        }
        ReleaseReceiveBufferIfEmpty();
        return total;
    }

    /// <summary>Counts a segment that failed parsing or checksum before reaching the machine.</summary>
    public void RecordInError()
    {
        _stats.InSegments++;
        _stats.InErrors++;
    }

    private void QueueFin()
    {
        _finQueued = true;
        _finSeq = _sndDataEnd;
    }

    private void EnterClosed()
    {
        if (_state != TcpState.Closed) _events |= TcpEvents.Closed;
        _state = TcpState.Closed;
        _retransmitAt = Instant.MaxValue;
        _delayedAckAt = Instant.MaxValue;
        _persistAt = Instant.MaxValue;
        _keepAliveAt = Instant.MaxValue;
        _closeTimerAt = Instant.MaxValue;
        _ackNow = false;
        _windowProbeNow = false;
        _keepAliveProbeNow = false;
        _retransmitHeadNow = false;
        _forceSendNow = false;
        _sendQueue.Clear();
        _reassembler.Clear();
        ReleaseReceiveBufferIfEmpty(); // out-of-order bytes are gone; in-order ones stay readable
    }

    // RFC 9293 §3.10.7.4 (MUST-11): a passive SYN-RECEIVED that is reset returns to LISTEN. Everything learned from the
    // SYN goes (remote port, sequence space, options, timers, RTT backoff); statistics and the rate limit stay.
    private void ReturnToListen()
    {
        EnterClosed();
        _events = (_events & ~TcpEvents.Closed) | TcpEvents.ReturnedToListen;
        _state = TcpState.Listen;
        _remotePort = 0;
        InitSendSequence(_iss);
        _synAcked = false;
        _finQueued = false;
        _sndWnd = 0;
        _maxSndWnd = 0;
        _rcvNxt = default;
        _rcvAdvEdge = default;
        _finReceivedOutOfOrder = false;
        _dsackPending = false;
        _tsEnabled = false;
        _tsRecent = 0;
        _sackPermitted = false;
        _synRetransmitted = false;
        _rtt = new RttEstimator(_config.InitialRto.Ticks / 10, _config.MinRto.Ticks / 10, _config.MaxRto.Ticks / 10, _config.TickMicroseconds);
        _rttTiming = false;
        _retransmitCount = 0;
        _retransmitLimitHit = false;
        _totalRtActive = false;
        _dupAckCount = 0;
        _inRecovery = false;
        _scoreboard.Clear();
        _segmentsUnacked = 0;
        _persistBackoff = 0;
        _unansweredProbes = 0;
        _keepAliveProbesSent = 0;
    }

    private void EnterTimeWait(Instant now)
    {
        _state = TcpState.TimeWait;
        _events |= TcpEvents.TimeWaitEntered;
        _retransmitAt = Instant.MaxValue;
        _persistAt = Instant.MaxValue;
        _keepAliveAt = Instant.MaxValue;
        _closeTimerAt = now + 2 * _config.Msl;
    }

    /// <summary>A one-line dump of the sequence variables and timers, for diagnostics.</summary>
    internal string DebugState
        => $"{_state} una={_sndUna} nxt={_sndNxt} max={_sndMax} dataEnd={_sndDataEnd} fin={_finQueued}@{_finSeq} wnd={_sndWnd} cwnd={_cc.CWnd} "
           + $"ssthresh={_cc.SsThresh} rcvNxt={_rcvNxt} rcvWnd={RcvWnd} rx={_rx.Count} held={_rxHeld} ooo={_reassembler.Count} rto={_rtt.Rto} retx={_retransmitCount} "
           + $"rtoAt={_retransmitAt} persistAt={_persistAt} ackAt={_delayedAckAt} ackNow={_ackNow} dup={_dupAckCount} rec={_inRecovery}@{_recover} "
           + $"head={_retransmitHeadNow} events={_events}";

    // Sequence number of the first byte held in the send queue.
    private SeqNumber DataStart => _synAcked ? _sndUna : _iss + 1;

    private bool IsSynchronized => _state >= TcpState.SynRcvd;

    private uint FlightSize => (uint)Math.Max(0, _sndMax - _sndUna);

    private uint InitialWindow
        => _synRetransmitted ? (uint)_effectiveMss : (uint)Math.Min(10 * _effectiveMss, Math.Max(2 * _effectiveMss, 14600));
}
