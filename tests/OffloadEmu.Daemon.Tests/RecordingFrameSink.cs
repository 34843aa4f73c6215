using OffloadEmu.Daemon.Hosting;
using OffloadEmu.Link;

namespace OffloadEmu.Daemon.Tests;

/// <summary>A sink that records the order of its calls and, when draining, sends one frame back through the link.</summary>
internal sealed class RecordingFrameSink : IFrameSink
{
    private readonly List<string> _events = new();
    private ILinkDevice? _device;
    private FramePool? _pool;
    private long _frames;

    internal Func<bool>? ReceiveLoopRunning { get; set; }

    internal byte[]? SendWhileDraining { get; init; }

    internal long Frames => Interlocked.Read(ref _frames);

    internal IReadOnlyList<string> Events { get { lock (_events) return _events.ToArray(); } }

    private void Add(string e) { lock (_events) _events.Add(e); }

    public void Attach(ILinkDevice device, FramePool pool)
    {
        _device = device;
        _pool = pool;
        Add("attach");
    }

    public void OnReceived(Span<FrameBuffer> frames) => Interlocked.Add(ref _frames, frames.Length);

    public Task DrainAsync(CancellationToken cancellationToken)
    {
        Add($"drain loop={ReceiveLoopRunning?.Invoke()}");
        if (SendWhileDraining is { } bytes)
        {
            var buffer = _pool!.Rent();
            bytes.CopyTo(buffer.Capacity);
            buffer.Length = bytes.Length;
            _device!.Send([buffer]);
            _pool.Return(buffer);
        }
        return Task.CompletedTask;
    }

    public void Detach() => Add($"detach loop={ReceiveLoopRunning?.Invoke()}");
}
