using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Congestion;

/// <summary>A congestion-control algorithm: owns CWnd and SsThresh and reacts to the events the machine reports. The
/// machine keeps the mechanics (duplicate-ACK counting, the recovery point, what to retransmit); the algorithm decides
/// window sizes, so Reno-family and CUBIC-style controllers plug in unchanged.</summary>
/// <remarks>RFC 5681 §3, RFC 6582 §3.2, RFC 9293 §3.8.2 (MAY-18: alternatives per RFC 5033).</remarks>
public interface ICongestionControl
{
    /// <summary>Congestion window in bytes.</summary>
    uint CWnd { get; }

    /// <summary>Slow-start threshold in bytes.</summary>
    uint SsThresh { get; }

    /// <summary>Sets the state (at connection start or import of chimney delegated state).</summary>
    void Reset(int mss, uint cwnd, uint ssThresh);

    /// <summary>New data was acknowledged outside recovery (<paramref name="ackedBytes"/> of it); <paramref name="srtt"/>
    /// is the current smoothed RTT (zero before the first sample).</summary>
    void OnAck(int ackedBytes, Instant now, TimeSpan srtt);

    /// <summary>HyStart++ input (RFC 9406), called before <see cref="OnAck"/> for every ACK of new data outside recovery when
    /// HyStart++ is on: <paramref name="ack"/> is the new SND.UNA, <paramref name="sndNxt"/> the highest sequence sent,
    /// <paramref name="rttMicroseconds"/> the RTT the ACK measured (negative: none). Controllers without HyStart++ ignore it.</summary>
    void OnSlowStartAck(SeqNumber ack, SeqNumber sndNxt, long rttMicroseconds)
    {
    }

    /// <summary>The duplicate-ACK threshold was reached: entering fast recovery with <paramref name="flightSize"/> bytes outstanding.</summary>
    void OnEnterRecovery(uint flightSize, Instant now);

    /// <summary>Another duplicate ACK during fast recovery (a segment left the network).</summary>
    void OnDuplicateAckInRecovery();

    /// <summary>A partial ACK during fast recovery acknowledged <paramref name="ackedBytes"/>.</summary>
    void OnPartialAck(int ackedBytes);

    /// <summary>The recovery point was acknowledged; <paramref name="flightSize"/> bytes remain outstanding.</summary>
    void OnExitRecovery(uint flightSize);

    /// <summary>The retransmission timer expired with <paramref name="flightSize"/> bytes outstanding.</summary>
    void OnRetransmitTimeout(uint flightSize);

    /// <summary>Sending resumes after an idle period longer than the RTO: cap CWnd at the restart window.</summary>
    void OnRestartAfterIdle(uint restartWindow);

    /// <summary>The last fast-recovery episode was spurious (D-SACKs showed that every retransmission of it was needless:
    /// the originals had arrived, the segments were reordered, not lost): undo its reduction, CWnd and SsThresh back to at
    /// least <paramref name="cwnd"/> and <paramref name="ssThresh"/>, their values when the episode began.</summary>
    /// <remarks>RFC 2883 §4 (using D-SACK to detect and undo needless reductions), RFC 3708 §3.</remarks>
    void UndoReduction(uint cwnd, uint ssThresh);
}
