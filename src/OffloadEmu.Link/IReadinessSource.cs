namespace OffloadEmu.Link;

/// <summary>
/// A device whose received frames are announced by a pollable descriptor: when it is readable, <see
/// cref="ILinkDevice.Receive"/> with a zero timeout returns frames. Lets one thread wait for frames and for other work
/// together (<see cref="LinkWaiter"/>) instead of a reader thread handing frames over.
/// </summary>
/// <remarks>Decorators that pass received frames through unchanged and at once (capture, tracing) forward their inner
/// device's descriptor; one that holds frames back (impairment delays) must not implement it. A device whose descriptor
/// changes (the daemon's supervised device, which opens a lost TAP again) returns the current one: waiters read it at
/// every wait.</remarks>
public interface IReadinessSource
{
    /// <summary>The descriptor to poll for input now, or -1 when there is none (closed, lost, or the inner device has none).</summary>
    int ReadinessDescriptor { get; }
}
