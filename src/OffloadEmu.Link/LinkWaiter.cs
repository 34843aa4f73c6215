using OffloadEmu.Link.Native;

namespace OffloadEmu.Link;

/// <summary>
/// One thread's wait for "a frame arrived on the device, or somebody has work for me": poll(2) on the device's readiness
/// descriptor and an eventfd that <see cref="Signal"/> makes readable. Lets a device's owner read it on its own thread
/// (no reader thread, no hand-off per batch) and still be woken by requests from other threads.
/// </summary>
/// <remarks>
/// Linux only, and only for devices that announce their input on a descriptor (TAP and AF_PACKET, also under the
/// capture and tracing decorators); <see cref="TryCreate"/> returns null otherwise and the caller keeps a reader thread.
/// <see cref="Signal"/> may be called from any thread, also during or after <see cref="Dispose"/> (it then does nothing).
/// </remarks>
public sealed unsafe class LinkWaiter : IDisposable
{
    private readonly IReadinessSource _device;
    private int _eventFd;
    private int _signalers;
    private int _disposed;
    private bool _deviceIgnored;

    internal LinkWaiter(int deviceFd)
        : this(new FixedDescriptor(deviceFd))
    {
    }

    internal LinkWaiter(IReadinessSource device)
    {
        int efd = Libc.EventFd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        if (efd < 0) throw new LinkDeviceException("eventfd", "eventfd() failed", Libc.Errno);
        _device = device;
        _eventFd = efd;
    }

    /// <summary>A waiter on <paramref name="device"/>'s input, or null when the device has no readiness descriptor (or
    /// this is not Linux).</summary>
    /// <remarks>The descriptor is read again at every <see cref="Wait"/>: a device that replaces what it reads from (the
    /// daemon's supervised device after a lost TAP is opened again) announces the new one, and -1 while it has none
    /// (the wait then sees <see cref="Signal"/> and the timeout only).</remarks>
    public static LinkWaiter? TryCreate(ILinkDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (!CanWait(device)) return null;
        return new LinkWaiter((IReadinessSource)device);
    }

    /// <summary>True when <see cref="TryCreate"/> gives a waiter for <paramref name="device"/>: Linux, and the device
    /// announces its input on a descriptor now.</summary>
    public static bool CanWait(ILinkDevice device)
        => OperatingSystem.IsLinux() && device is IReadinessSource { ReadinessDescriptor: >= 0 };

    /// <summary>Makes the current or next <see cref="Wait"/> return. Any thread; one write(2) per call, so callers
    /// signal only a waiter that sleeps.</summary>
    public void Signal()
    {
        // Counted so Dispose never closes the eventfd under a write (a reused descriptor number must never get our 8 bytes).
        Interlocked.Increment(ref _signalers);
        try
        {
            if (Volatile.Read(ref _disposed) != 0) return;
            ulong one = 1;
            Libc.Write(_eventFd, (byte*)&one, sizeof(ulong));   // EAGAIN only at a counter near 2^64: already signalled
        }
        finally
        {
            Interlocked.Decrement(ref _signalers);
        }
    }

    /// <summary>Waits until the device has input, <see cref="Signal"/> was called, or <paramref name="timeoutMilliseconds"/>
    /// passed (-1 = no limit). Returns true when the device's descriptor is readable (or reports an error, which the
    /// next Receive then raises). One thread at a time.</summary>
    public bool Wait(int timeoutMilliseconds)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        PollFd* fds = stackalloc PollFd[2];
        fds[0].Fd = _eventFd;
        fds[0].Events = Libc.POLLIN;
        fds[0].REvents = 0;
        // Read at every wait (-1 while the device has none: poll(2) skips a negative descriptor).
        int deviceFd = _deviceIgnored ? -1 : _device.ReadinessDescriptor;
        fds[1].Fd = deviceFd;
        fds[1].Events = Libc.POLLIN;
        fds[1].REvents = 0;
        int rc = Libc.Poll(fds, deviceFd < 0 ? 1u : 2u, timeoutMilliseconds);
        if (rc <= 0) return false;   // timeout, or EINTR: the caller's loop looks again
        if ((fds[0].REvents & Libc.POLLIN) != 0)
        {
            ulong value;
            Libc.Read(_eventFd, (byte*)&value, sizeof(ulong));   // reset the counter
        }
        return deviceFd >= 0 && fds[1].REvents != 0;
    }

    /// <summary>From now on <see cref="Wait"/> waits for <see cref="Signal"/> and the timeout only (the device failed:
    /// its descriptor would report an error at every poll). Call from the waiting thread.</summary>
    public void StopWatchingDevice() => _deviceIgnored = true;

    /// <summary>Closes the eventfd (not the device). Safe to call twice.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        SpinWait spin = default;
        while (Volatile.Read(ref _signalers) != 0) spin.SpinOnce();
        int fd = Interlocked.Exchange(ref _eventFd, -1);
        if (fd >= 0) Libc.Close(fd);
    }

    private sealed class FixedDescriptor(int fd) : IReadinessSource
    {
        public int ReadinessDescriptor => fd;
    }
}
