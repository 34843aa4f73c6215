using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OffloadEmu.Link.Capture;
using OffloadEmu.Wire;

namespace OffloadEmu.Link.Decorators;

/// <summary>
/// Writes every frame that passes through the wrapped device to a capture file: received frames as
/// inbound, sent frames as outbound, on an interface named after the inner device. Traffic never
/// depends on the capture: a failed write is counted as <see cref="DropReason.CaptureFailed"/> in the
/// shared <see cref="Statistics"/> and the frame goes on.
/// </summary>
/// <remarks>
/// <para>Place it next to the emulator, inside any impairment (tcp-requirements "Lab pitfalls" 8):
/// <c>new ImpairmentDevice(new CaptureDevice(tap, ...), ...)</c> would record the impaired wire; the
/// usual order is <c>new CaptureDevice(new ImpairmentDevice(tap, ...), ...)</c>, which records what the
/// emulator sent and what it was given.</para>
/// <para>Sent frames are written before they are handed to the inner device, so a request is never
/// written after its reply. Frames without a timestamp are stamped from the <see cref="TimeProvider"/>.</para>
/// <para>Flushing: the file is flushed on the first write after <see cref="CaptureOptions.FlushInterval"/>
/// has passed since the last flush, by a timer when the link is idle, and on Dispose.</para>
/// <para>Rotation (path mode, <see cref="CaptureOptions.MaxFileBytes"/> &gt; 0): the first file is the
/// given path, e.g. <c>cap.pcapng</c>; when the next frame would take it past the limit it is closed and
/// <c>cap.1.pcapng</c>, <c>cap.2.pcapng</c>, ... follow (the counter goes before the extension; a path
/// without an extension gets <c>cap.1</c>). Each file is complete on its own (header and interface block).</para>
/// <para>Records of other link types (<see cref="AddRecordQueue"/>, pcapng only): each <see cref="CaptureRecordQueue"/>
/// gets an interface of its own in every file, and its records are written before each batch of frames, by the idle
/// timer and at Dispose, so the file stays in time order while the producers never wait for it.</para>
/// <para>After a write fails, the file is abandoned and later frames count as CaptureFailed until the next
/// rotation opens a new file. The decorator owns the inner device and disposes it.</para>
/// </remarks>
public sealed partial class CaptureDevice : ILinkDevice, IReadinessSource
{
    private readonly ILinkDevice _inner;
    private readonly CaptureOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string? _path;
    private readonly Stream? _stream;
    private readonly Lock _gate = new();
    private readonly ITimer _flushTimer;
    private readonly long _flushIntervalTicks;

    private readonly List<(CaptureRecordQueue Queue, int Interface)> _recordQueues = [];
    private readonly CaptureRecordQueue.RecordWriter _writeRecord;
    private int _drainInterface;

    private ICaptureWriter? _writer;
    private int _interface;
    private int _fileIndex;
    private long _lastFlush;
    private bool _dirty;
    private bool _disposed;

    /// <summary>Captures to a file at <paramref name="path"/> (created or overwritten), rotating per <paramref name="options"/>.</summary>
    public CaptureDevice(ILinkDevice inner, string path, CaptureOptions? options = null, TimeProvider? timeProvider = null, ILogger? logger = null)
        : this(inner, options, timeProvider, logger)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = path;
        try
        {
            OpenWriter();
        }
        catch
        {
            // The first file must open: failing here is a configuration error the caller should see.
            _flushTimer.Dispose();
            throw;
        }
    }

    /// <summary>Captures to <paramref name="stream"/> (no rotation; the stream is closed on Dispose).</summary>
    public CaptureDevice(ILinkDevice inner, Stream stream, CaptureOptions? options = null, TimeProvider? timeProvider = null, ILogger? logger = null)
        : this(inner, options, timeProvider, logger)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        OpenWriter();
    }

    private CaptureDevice(ILinkDevice inner, CaptureOptions? options, TimeProvider? timeProvider, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _options = options ?? new CaptureOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_options.FlushInterval, TimeSpan.Zero, nameof(options));
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _flushIntervalTicks = (long)(_options.FlushInterval.TotalSeconds * _time.TimestampFrequency);
        _lastFlush = _time.GetTimestamp();
        _writeRecord = WriteRecord;
        // The idle timer only flushes our own buffer; it never calls into the inner device or user code.
        _flushTimer = _time.CreateTimer(static s => ((CaptureDevice)s!).OnFlushTimer(), this, _options.FlushInterval, _options.FlushInterval);
    }

    /// <summary>The file being written now (path mode), or null for a stream.</summary>
    public string? CurrentPath { get; private set; }

    /// <inheritdoc/>
    public string Name => _inner.Name;
    /// <inheritdoc/>
    public MacAddress MacAddress => _inner.MacAddress;
    /// <inheritdoc/>
    public int Mtu => _inner.Mtu;
    /// <inheritdoc/>
    public ChecksumCapabilities Checksums => _inner.Checksums;
    /// <summary>The inner device's counters, to which this decorator adds <see cref="DropReason.CaptureFailed"/>.</summary>
    public LinkStatistics Statistics => _inner.Statistics;

    // Frames pass through unchanged and at once: the inner device's descriptor announces them.
    int IReadinessSource.ReadinessDescriptor => _inner is IReadinessSource r ? r.ReadinessDescriptor : -1;

    /// <inheritdoc/>
    public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds)
    {
        int n = _inner.Receive(frames, timeoutMilliseconds);
        if (n > 0) Write(frames[..n], CaptureDirection.Inbound);
        return n;
    }

    /// <inheritdoc/>
    public int Send(ReadOnlySpan<FrameBuffer> frames)
    {
        Write(frames, CaptureDirection.Outbound);
        return _inner.Send(frames);
    }

    /// <summary>Writes buffered frames (and queued records) to the file now.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            DrainRecordsLocked();
            FlushLocked();
        }
    }

    /// <summary>True when the capture can hold interfaces of other link types (pcapng; classic pcap has one).</summary>
    public bool SupportsRecordInterfaces => _options.Format == CaptureFormat.PcapNg;

    /// <summary>
    /// Adds an interface of <paramref name="queue"/>'s link type to the capture (and to every file a rotation opens) and
    /// writes the queue's records into it, in time order with the frames: the queue is drained before each batch of
    /// frames, by the idle flush timer and at Dispose.
    /// </summary>
    /// <exception cref="NotSupportedException">The format is classic pcap (one link type per file).</exception>
    public void AddRecordQueue(CaptureRecordQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        if (!SupportsRecordInterfaces) throw new NotSupportedException("A classic pcap file holds one link type; use pcapng to capture records of another.");
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int index = -1;
            if (_writer is PcapNgWriter ng)
            {
                try
                {
                    index = ng.AddInterface(queue.InterfaceName, queue.LinkType, queue.SnapLength);
                    _dirty = true;
                }
                catch (Exception ex)
                {
                    Fail(ex);
                }
            }
            _recordQueues.Add((queue, index));
        }
    }

    /// <summary>
    /// Captures another queue of the same link into this capture's file (a multi-queue TAP, an AF_PACKET fanout group):
    /// the returned device passes <paramref name="queue"/>'s frames through and writes them, as this device writes its
    /// own, on the same interface of the same file, under the same lock, so several threads (one per queue) may send and
    /// receive at once. Frames of different queues are written in the order their threads took the lock: a timestamp may
    /// be a few microseconds earlier than the frame before it. The view owns <paramref name="queue"/> and disposes it;
    /// this device flushes and closes the file (dispose the views first).
    /// </summary>
    public ILinkDevice AddQueue(ILinkDevice queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return new QueueView(this, queue);
    }

    private sealed class QueueView(CaptureDevice capture, ILinkDevice inner) : ILinkDevice, IReadinessSource
    {
        public string Name => inner.Name;
        public MacAddress MacAddress => inner.MacAddress;
        public int Mtu => inner.Mtu;
        public ChecksumCapabilities Checksums => inner.Checksums;
        public LinkStatistics Statistics => inner.Statistics;

        int IReadinessSource.ReadinessDescriptor => inner is IReadinessSource r ? r.ReadinessDescriptor : -1;

        public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds)
        {
            int n = inner.Receive(frames, timeoutMilliseconds);
            if (n > 0) capture.Write(frames[..n], CaptureDirection.Inbound);
            return n;
        }

        public int Send(ReadOnlySpan<FrameBuffer> frames)
        {
            capture.Write(frames, CaptureDirection.Outbound);
            return inner.Send(frames);
        }

        public void Dispose() => inner.Dispose();

        public override string ToString() => inner.ToString() ?? inner.Name;
    }

    private void Write(ReadOnlySpan<FrameBuffer> frames, CaptureDirection direction)
    {
        lock (_gate)
        {
            if (_disposed) return;
            // Records queued before these frames go first: the file stays in time order.
            if (_recordQueues.Count != 0) DrainRecordsLocked();
            long stamp = 0;
            foreach (var frame in frames)
            {
                if (_writer is null)
                {
                    Statistics.CountDrop(DropReason.CaptureFailed);
                    continue;
                }
                try
                {
                    if (_path is not null && _options.MaxFileBytes > 0 && _dirty
                        && _writer.BytesWritten + frame.Length + 64 > _options.MaxFileBytes)
                    {
                        Rotate();
                        if (_writer is null) { Statistics.CountDrop(DropReason.CaptureFailed); continue; }
                    }
                    long ts = frame.TimestampNs;
                    if (ts == 0) ts = stamp != 0 ? stamp : stamp = NowNs();
                    _writer.WriteFrame(_interface, ts, frame.Span, direction);
                    _dirty = true;
                }
                catch (Exception ex)
                {
                    Fail(ex);
                }
            }
            if (_dirty && _time.GetTimestamp() - _lastFlush >= _flushIntervalTicks) FlushLocked();
        }
    }

    private void OnFlushTimer()
    {
        lock (_gate)
        {
            if (_disposed) return;
            if (_recordQueues.Count != 0) DrainRecordsLocked();
            if (!_dirty) return;
            // Only when the writers have been quiet: a busy link flushes itself on the write path.
            if (_time.GetTimestamp() - _lastFlush >= _flushIntervalTicks) FlushLocked();
        }
    }

    private void DrainRecordsLocked()
    {
        for (int i = 0; i < _recordQueues.Count; i++)
        {
            var (queue, index) = _recordQueues[i];
            if (_writer is null || index < 0)
            {
                queue.Discard();
                continue;
            }
            _drainInterface = index;
            queue.Drain(_writeRecord);
        }
    }

    // The queue's visitor (a delegate made once): one record to the interface being drained.
    private void WriteRecord(long timestampNs, CaptureDirection direction, ReadOnlySpan<byte> record, int originalLength)
    {
        if (_writer is not PcapNgWriter writer)
        {
            Statistics.CountDrop(DropReason.CaptureFailed);
            return;
        }
        try
        {
            if (_path is not null && _options.MaxFileBytes > 0 && _dirty && writer.BytesWritten + record.Length + 64 > _options.MaxFileBytes)
            {
                Rotate();
                if (_writer is not PcapNgWriter rotated) { Statistics.CountDrop(DropReason.CaptureFailed); return; }
                writer = rotated; // the new file declares the interfaces again in the same order: same index
            }
            writer.WriteRecord(_drainInterface, timestampNs == 0 ? NowNs() : timestampNs, record, originalLength, direction);
            _dirty = true;
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    private void FlushLocked()
    {
        _lastFlush = _time.GetTimestamp();
        if (_writer is null || !_dirty) return;
        try
        {
            _writer.Flush();
            _dirty = false;
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    private void Fail(Exception ex)
    {
        Statistics.CountDrop(DropReason.CaptureFailed);
        LogCaptureFailed(_logger, _inner.Name, CurrentPath ?? "stream", ex);
        var broken = _writer;
        _writer = null;
        _dirty = false;
        try { broken?.Dispose(); } catch (Exception) { /* the file is already broken; nothing more to save */ }
    }

    private void Rotate()
    {
        var old = _writer;
        _writer = null;
        _dirty = false;
        try
        {
            old?.Dispose();
        }
        catch (Exception ex)
        {
            // The finished file could not be closed cleanly; count it and still move on to the next one.
            Statistics.CountDrop(DropReason.CaptureFailed);
            LogCaptureFailed(_logger, _inner.Name, CurrentPath ?? "stream", ex);
        }
        _fileIndex++;
        OpenWriter();
    }

    /// <summary>The pcapng if_description of a link in segmentation-offload mode (docs/target.md).</summary>
    public const string SegmentationOffloadDescription =
        "segmentation offload on (TSO/LRO through the TAP's virtio-net header): TCP frames are super-segments of up to 64 KiB "
        + "as handed to or taken from the kernel before it cuts them into MSS-sized segments, and their TCP checksums are "
        + "partial (the pseudo-header sum, completed by the kernel); Wireshark's checksum check and 'frame larger than MTU' "
        + "do not apply";

    private void OpenWriter()
    {
        Stream stream;
        if (_path is not null)
        {
            CurrentPath = RotatedPath(_path, _fileIndex);
            try
            {
                stream = new FileStream(CurrentPath, FileMode.Create, FileAccess.Write, FileShare.Read, 1, FileOptions.None);
            }
            catch (Exception ex) when (_fileIndex > 0)
            {
                // A rotation that cannot open its file must not stop the traffic.
                Fail(ex);
                return;
            }
        }
        else
        {
            stream = _stream!;
        }
        _writer = _options.Format == CaptureFormat.Pcap
            ? new PcapWriter(stream, _options.SnapLength, leaveOpen: false, _options.BufferSize)
            : new PcapNgWriter(stream, _options.SnapLength, leaveOpen: false, _options.BufferSize);
        _interface = _writer is PcapNgWriter withDescription && (_inner.Checksums & ChecksumCapabilities.SegmentationOffload) != 0
            ? withDescription.AddInterface(_inner.Name, PcapNgWriter.LinkTypeEthernet, _options.SnapLength, SegmentationOffloadDescription)
            : _writer.AddInterface(_inner.Name);
        if (_writer is PcapNgWriter ng)
            for (int i = 0; i < _recordQueues.Count; i++)
                _recordQueues[i] = (_recordQueues[i].Queue, ng.AddInterface(_recordQueues[i].Queue.InterfaceName, _recordQueues[i].Queue.LinkType, _recordQueues[i].Queue.SnapLength));
        _lastFlush = _time.GetTimestamp();
    }

    /// <summary>
    /// The name of file number <paramref name="index"/> of a rotating capture: the base path for 0, then
    /// the counter before the extension (<c>cap.pcapng</c>, <c>cap.1.pcapng</c>, <c>cap.2.pcapng</c>...).
    /// </summary>
    public static string RotatedPath(string path, int index)
    {
        if (index == 0) return path;
        string ext = Path.GetExtension(path);
        string stem = path[..^ext.Length];
        return $"{stem}.{index}{ext}";
    }

    private long NowNs() => (_time.GetUtcNow().UtcTicks - DateTime.UnixEpoch.Ticks) * 100;

    /// <summary>Flushes and closes the capture, then disposes the inner device.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _flushTimer.Dispose();
            try
            {
                if (_recordQueues.Count != 0) DrainRecordsLocked();
                _writer?.Dispose();
            }
            catch (Exception ex)
            {
                Statistics.CountDrop(DropReason.CaptureFailed);
                LogCaptureFailed(_logger, _inner.Name, CurrentPath ?? "stream", ex);
            }
            _writer = null;
        }
        _inner.Dispose();
    }

    [LoggerMessage(EventId = 1200, Level = LogLevel.Warning, Message = "Capture of {Device} to {File} failed; frames are no longer captured until the next file")]
    private static partial void LogCaptureFailed(ILogger logger, string device, string file, Exception exception);
}
