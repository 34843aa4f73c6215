using Microsoft.Extensions.Logging;
using OffloadEmu.Wire;

namespace OffloadEmu.Link.Decorators;

/// <summary>
/// Logs one line per frame received or sent through the wrapped device, at <see cref="LogLevel.Trace"/>
/// (or the level given), with the device name, the direction and the formatter's description. When the
/// level is off nothing is formatted and nothing is allocated: every frame costs one
/// <see cref="ILogger.IsEnabled"/> check.
/// </summary>
/// <remarks>Event ids: 1100 frame received, 1101 frame sent (1xxx = link layer). The decorator owns the inner device.</remarks>
public sealed partial class TracingDevice : ILinkDevice, IReadinessSource
{
    private readonly ILinkDevice _inner;
    private readonly ILogger _logger;
    private readonly IFrameFormatter _formatter;
    private readonly LogLevel _level;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The device to trace (owned and disposed by this decorator).</param>
    /// <param name="logger">Where the lines go.</param>
    /// <param name="formatter">Describes a frame (default: a <see cref="TcpdumpFrameFormatter"/>, tcpdump -nn lines).</param>
    /// <param name="level">Level of the lines; Trace by default, Debug for a quieter setup.</param>
    public TracingDevice(ILinkDevice inner, ILogger logger, IFrameFormatter? formatter = null, LogLevel level = LogLevel.Trace)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(logger);
        _inner = inner;
        _logger = logger;
        _formatter = formatter ?? new TcpdumpFrameFormatter();
        _level = level;
    }

    /// <inheritdoc/>
    public string Name => _inner.Name;
    /// <inheritdoc/>
    public MacAddress MacAddress => _inner.MacAddress;
    /// <inheritdoc/>
    public int Mtu => _inner.Mtu;
    /// <inheritdoc/>
    public ChecksumCapabilities Checksums => _inner.Checksums;
    /// <inheritdoc/>
    public LinkStatistics Statistics => _inner.Statistics;

    // Frames pass through unchanged and at once: the inner device's descriptor announces them.
    int IReadinessSource.ReadinessDescriptor => _inner is IReadinessSource r ? r.ReadinessDescriptor : -1;

    /// <inheritdoc/>
    public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds)
    {
        int n = _inner.Receive(frames, timeoutMilliseconds);
        if (n > 0 && _logger.IsEnabled(_level))
        {
            for (int i = 0; i < n; i++) LogReceived(_logger, _level, _inner.Name, _formatter.Format(frames[i].Span));
        }
        return n;
    }

    /// <inheritdoc/>
    public int Send(ReadOnlySpan<FrameBuffer> frames)
    {
        if (frames.Length > 0 && _logger.IsEnabled(_level))
        {
            foreach (var frame in frames) LogSent(_logger, _level, _inner.Name, _formatter.Format(frame.Span));
        }
        return _inner.Send(frames);
    }

    /// <summary>Disposes the inner device.</summary>
    public void Dispose() => _inner.Dispose();

    [LoggerMessage(EventId = 1100, Message = "{Device} < {Frame}")]
    private static partial void LogReceived(ILogger logger, LogLevel level, string device, string frame);

    [LoggerMessage(EventId = 1101, Message = "{Device} > {Frame}")]
    private static partial void LogSent(ILogger logger, LogLevel level, string device, string frame);
}
