using OffloadEmu.Chimney;
using OffloadEmu.Link;
using OffloadEmu.Link.Decorators;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// The offload target a command's host stack binds to, and what must be closed with it. Embedded: an
/// <see cref="Target.OffloadTarget"/> running on the opened link (and its capture). Later also the daemon's
/// RemoteOffloadTarget; callers see only <see cref="Target"/>.
/// </summary>
internal sealed class TargetSession : IDisposable
{
    private readonly IDisposable? _runner;
    private readonly ILinkDevice? _device;
    private readonly IReadOnlyList<ILinkDevice> _otherQueues;
    private readonly Action? _start;
    private int _disposed;

    /// <summary>A target and what to close with it; <paramref name="otherQueues"/>: with <c>--queues N</c>, the link's
    /// queues after the first (<paramref name="device"/>), closed before it (capture views before the capture that writes
    /// the file).</summary>
    public TargetSession(IOffloadTarget target, string description, Action? start, IDisposable? runner, ILinkDevice? device, CaptureDevice? capture,
        IReadOnlyList<ILinkDevice>? otherQueues = null)
    {
        _otherQueues = otherQueues ?? [];
        Target = target;
        _start = start;
        Description = description;
        _runner = runner;
        _device = device;
        Capture = capture;
    }

    /// <summary>The embedded target's link (its first queue): null with a daemon.</summary>
    public Link.ILinkDevice? Device => _device;

    /// <summary>The chimney contract the host stack uses.</summary>
    public IOffloadTarget Target { get; }

    /// <summary>"tap:oe0 (mac 02:.., mtu 1500)" for the summary.</summary>
    public string Description { get; }

    /// <summary>The capture layer (embedded with <c>--capture</c>).</summary>
    public CaptureDevice? Capture { get; }

    /// <summary>Starts the target's threads; call once the host stack is bound (frames then have somewhere to go).</summary>
    public void Start() => _start?.Invoke();

    /// <summary>Stops the target, then closes the device stack (flushing the capture before the device closes).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _runner?.Dispose();
        for (int i = _otherQueues.Count - 1; i >= 0; i--) _otherQueues[i].Dispose();
        _device?.Dispose();
    }
}
