using OffloadEmu.Link;
using OffloadEmu.Wire;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// The bottom of the daemon's link stack: forwards to the real device and survives losing it (TAP deleted, pcap device
/// unplugged). When the device fails for good (<see cref="LinkDeviceException"/> from Receive or Send) it is marked
/// <see cref="IsLost"/>: sends are dropped and counted (<see cref="DropReason.InterfaceDown"/>), receives return nothing,
/// nothing is thrown to the target or the receive loop. <see cref="LinkService"/> then opens the device again and hands
/// it over with <see cref="Replace"/>. Name, MAC, MTU and checksum capabilities stay those of the first device (the
/// target was built with them); the counters are the current device's and those of the lost one until it is replaced.
/// </summary>
/// <remarks>It announces the current device's readiness descriptor (<see cref="IReadinessSource"/>), -1 while the device is
/// lost or has none, so the target's engine loops can read it themselves (<see cref="LinkWaiter"/> reads the descriptor
/// at every wait and so follows <see cref="Replace"/>).</remarks>
internal sealed class SupervisedDevice : ILinkDevice, IReadinessSource
{
    private readonly Lock _lock = new();
    private ILinkDevice _inner;
    private ILinkDevice? _lostDevice;
    private volatile bool _lost;
    private string _lostReason = "";
    private bool _disposed;

    public SupervisedDevice(ILinkDevice inner)
    {
        _inner = inner;
        Name = inner.Name;
        MacAddress = inner.MacAddress;
        Mtu = inner.Mtu;
        Checksums = inner.Checksums;
    }

    public string Name { get; }
    public MacAddress MacAddress { get; }
    public int Mtu { get; }
    public ChecksumCapabilities Checksums { get; }

    /// <summary>The current device's counters (those of the lost one while it is lost).</summary>
    public LinkStatistics Statistics => Volatile.Read(ref _inner).Statistics;

    /// <summary>The device failed and has not been replaced yet.</summary>
    public bool IsLost => _lost;

    /// <summary>Why the device was lost (the exception's message).</summary>
    public string LostReason => Volatile.Read(ref _lostReason);

    /// <summary>The current device's descriptor; -1 while it is lost (nothing to read until it is replaced), after dispose,
    /// or when the device has none (pcap).</summary>
    public int ReadinessDescriptor
        => _lost || Volatile.Read(ref _disposed) ? -1 : Volatile.Read(ref _inner) is IReadinessSource r ? r.ReadinessDescriptor : -1;

    /// <summary>The current real device (for descriptions).</summary>
    public ILinkDevice Inner => Volatile.Read(ref _inner);

    public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds)
    {
        if (!_lost)
        {
            try
            {
                return Volatile.Read(ref _inner).Receive(frames, timeoutMilliseconds);
            }
            catch (Exception ex) when (ex is LinkDeviceException or ObjectDisposedException && !_disposed)
            {
                MarkLost(ex);
            }
        }
        // Lost: nothing to read; the receive loop reopens the device.
        if (timeoutMilliseconds != 0) Thread.Sleep(timeoutMilliseconds < 0 ? 100 : Math.Min(timeoutMilliseconds, 100));
        return 0;
    }

    public int Send(ReadOnlySpan<FrameBuffer> frames)
    {
        lock (_lock)
        {
            if (!_lost)
            {
                try
                {
                    return _inner.Send(frames);
                }
                catch (Exception ex) when (ex is LinkDeviceException or ObjectDisposedException && !_disposed)
                {
                    MarkLostLocked(ex);
                }
            }
            var stats = _inner.Statistics;
            for (int i = 0; i < frames.Length; i++) stats.CountDrop(DropReason.InterfaceDown);
            return 0;
        }
    }

    /// <summary>Marks the device lost although it has not failed itself (another queue of the same link did: the daemon
    /// opens all of them again together).</summary>
    public void ForceLost(string reason)
    {
        lock (_lock)
        {
            if (_lost) return;
            Volatile.Write(ref _lostReason, reason);
            _lostDevice = _inner;
            _lost = true;
        }
    }

    private void MarkLost(Exception ex)
    {
        lock (_lock) MarkLostLocked(ex);
    }

    private void MarkLostLocked(Exception ex)
    {
        if (_lost) return;
        Volatile.Write(ref _lostReason, ex.Message.ReplaceLineEndings(" "));
        _lostDevice = _inner;
        _lost = true;
    }

    /// <summary>Closes the lost device (its descriptor, so a re-created interface of the same name can be attached); its
    /// counters stay readable until <see cref="Replace"/>.</summary>
    public void CloseLost()
    {
        ILinkDevice? dead;
        lock (_lock)
        {
            dead = _lostDevice;
            _lostDevice = null;
        }
        try
        {
            dead?.Dispose();
        }
        catch (Exception ex) when (ex is LinkDeviceException or IOException or ObjectDisposedException)
        {
            // already gone
        }
    }

    /// <summary>Hands over a newly opened device; frames flow again.</summary>
    public void Replace(ILinkDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        CloseLost();
        lock (_lock)
        {
            Volatile.Write(ref _inner, device);
            _lost = false;
        }
    }

    public void Dispose()
    {
        ILinkDevice inner;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            inner = _inner;
        }
        CloseLost();
        inner.Dispose();
    }

    public override string ToString() => Inner.ToString() ?? Name;
}
