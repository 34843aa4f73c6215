using OffloadEmu.Link;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// Where the daemon's receive loop hands received frames: the plug for the offload target.
/// Registered as a singleton; the default is <see cref="TargetFrameSink"/> (the offload target).
/// </summary>
/// <remarks>
/// <para>Life cycle, driven by <see cref="LinkService"/>: <see cref="Attach"/> once the device stack
/// is open (start), <see cref="OnReceived"/> for every batch on the receive thread, then at stop, in
/// this order: <see cref="DrainAsync"/> while frames still flow both ways, the receive loop stops,
/// <see cref="Detach"/>, and only then the capture is flushed and the devices are closed.</para>
/// <para>Architecture §3: the receive thread is the link's reader; a target that runs its own engine
/// loop moves frames to it from <see cref="OnReceived"/> without blocking.</para>
/// </remarks>
public interface IFrameSink
{
    /// <summary>
    /// Called once from the host's start, after the device stack is open and before the first
    /// <see cref="OnReceived"/>. <paramref name="device"/> is the outermost device (sends through it are
    /// captured, impaired and traced); <paramref name="pool"/> is the pool the receive loop rents from.
    /// </summary>
    void Attach(ILinkDevice device, FramePool pool);

    /// <summary>
    /// Takes a batch of received frames, on the receive thread. The buffers belong to the loop and are
    /// reused after the call returns: copy what must outlive it, or keep a buffer by replacing its slot
    /// in <paramref name="frames"/> with one rented from the pool given to <see cref="Attach"/>
    /// (zero-copy hand-off). Must not block and must not allocate per frame.
    /// </summary>
    void OnReceived(Span<FrameBuffer> frames);

    /// <summary>
    /// The first stop step, while the link still runs: refuse new offloads, indicate upload-all so the
    /// hosts take every connection back, and complete every pending request, so nothing accepted from a
    /// host is lost. Bounded by the host's shutdown timeout through <paramref name="cancellationToken"/>.
    /// </summary>
    Task DrainAsync(CancellationToken cancellationToken);

    /// <summary>Called after the receive loop has stopped and before the devices are closed: release everything taken in <see cref="Attach"/>.</summary>
    void Detach();
}
