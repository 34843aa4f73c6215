using Microsoft.Extensions.Logging;
using OffloadEmu.Link;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// The sink used until an offload target is registered: counts frames and bytes and drops them,
/// logging a running total at Debug once every <see cref="LogEvery"/> frames (never per frame).
/// </summary>
internal sealed class DroppingFrameSink : IFrameSink
{
    /// <summary>Frames between two Debug lines.</summary>
    internal const long LogEvery = 10_000;

    private readonly ILogger<DroppingFrameSink> _logger;
    private long _frames;
    private long _bytes;
    private long _nextLog = LogEvery;

    public DroppingFrameSink(ILogger<DroppingFrameSink> logger) => _logger = logger;

    /// <summary>Frames dropped so far.</summary>
    public long Frames => Volatile.Read(ref _frames);

    /// <summary>Bytes dropped so far.</summary>
    public long Bytes => Volatile.Read(ref _bytes);

    public void Attach(ILinkDevice device, FramePool pool)
    {
    }

    public void OnReceived(Span<FrameBuffer> frames)
    {
        long bytes = 0;
        foreach (var f in frames) bytes += f.Length;
        // Only the receive thread writes; Volatile lets metrics and tests read without tearing.
        long total = _frames + frames.Length;
        Volatile.Write(ref _bytes, _bytes + bytes);
        Volatile.Write(ref _frames, total);
        if (total >= _nextLog)
        {
            _nextLog = (total / LogEvery + 1) * LogEvery;
            DaemonLog.SinkDropped(_logger, total, _bytes);
        }
    }

    public Task DrainAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Detach()
    {
    }
}
