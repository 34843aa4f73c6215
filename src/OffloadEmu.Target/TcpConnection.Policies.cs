using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;

namespace OffloadEmu.Target;

/// <summary>
/// The optional upload reasons of spec §6.3 as configurable policies (<see cref="OffloadTargetOptions.OptionalRetrieveReasons"/>):
/// LowActivity, HighDropRate, SmallIO, NoBufferPreposting, HighFragmentation, HighOutOfOrderPackets. Each is a suggestion:
/// it is indicated at most once per offload, only in ESTABLISHED, and the connection keeps working normally if the host
/// declines (no UPLOAD_IN_PROGRESS, unlike the mandatory reasons).
/// </summary>
internal sealed partial class TcpConnection
{
    private int _suggestedReasons;
    private Instant _lastActivity;
    private int _smallIoSends;
    private long _smallIoBytes;
    private int _indicationsWithoutPosts;
    private int _fragmentsFromPeer;
    private ulong _dropWindowOut;
    private ulong _dropWindowRetransmitted;

    /// <summary>Last data, request or non-keepalive segment (LowActivity).</summary>
    public Instant LastActivity => _lastActivity;

    public void NoteActivity(Instant now) => _lastActivity = now;

    /// <summary>Indicates Retrieve(<paramref name="reason"/>) if the policy is enabled and not yet suggested on this offload.</summary>
    public void SuggestUpload(TcpUploadReason reason)
    {
        if (!_engine.Options.OptionalRetrieveReasons.Contains(reason)) return;
        if (Machine.State != TcpState.Established || RetrieveIndicated || Terminating is not null || ResetReceived || AbortRequested) return;
        int bit = 1 << (int)reason;
        if ((_suggestedReasons & bit) != 0) return;
        _suggestedReasons |= bit;
        _engine.PostEvent(this, TcpOffloadEventType.Retrieve, (uint)reason);
    }

    /// <summary>SmallIO: the average size of the send requests of each window.</summary>
    private void NoteSendRequest(long bytes)
    {
        _smallIoSends++;
        _smallIoBytes += bytes;
        var options = _engine.Options;
        if (_smallIoSends < options.SmallIoWindow) return;
        if (_smallIoBytes < (long)options.SmallIoBytes * _smallIoSends) SuggestUpload(TcpUploadReason.SmallIO);
        _smallIoSends = 0;
        _smallIoBytes = 0;
    }

    /// <summary>NoBufferPreposting: indications made while the host had nothing posted.</summary>
    private void NoteIndication()
    {
        if (_posts.Count > 0) return;
        if (++_indicationsWithoutPosts >= _engine.Options.NoBufferPrepostingIndications) SuggestUpload(TcpUploadReason.NoBufferPreposting);
    }

    private void NotePosted() => _indicationsWithoutPosts = 0;

    /// <summary>HighFragmentation: an IP fragment from this connection's peer went up the non-offload path.</summary>
    public void NoteFragment()
    {
        if (++_fragmentsFromPeer >= _engine.Options.HighFragmentationThreshold) SuggestUpload(TcpUploadReason.HighFragmentation);
    }

    /// <summary>HighDropRate: the share of retransmissions among the segments sent in each window.</summary>
    private void CheckDropRate()
    {
        var stats = Machine.Statistics;
        ulong sent = stats.OutSegments + stats.RetransmittedSegments;
        ulong window = sent - _dropWindowOut;
        if (window < (ulong)_engine.Options.HighDropRateWindow) return;
        ulong retransmitted = stats.RetransmittedSegments - _dropWindowRetransmitted;
        if (retransmitted >= _engine.Options.HighDropRateThreshold * window) SuggestUpload(TcpUploadReason.HighDropRate);
        _dropWindowOut = sent;
        _dropWindowRetransmitted = stats.RetransmittedSegments;
    }

    /// <summary>Starts the policy counters at offload.</summary>
    public void StartPolicies(Instant now)
    {
        _lastActivity = now;
        var stats = Machine.Statistics;
        _dropWindowOut = stats.OutSegments + stats.RetransmittedSegments;
        _dropWindowRetransmitted = stats.RetransmittedSegments;
    }
}
