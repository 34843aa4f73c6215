namespace OffloadEmu.Link;

/// <summary>A device failed in a way it cannot count and go on from (open failed, device removed, fatal errno).</summary>
public sealed class LinkDeviceException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LinkDeviceException(string device, string message, int errno = 0, Exception? inner = null)
        : base($"{device}: {message}{(errno != 0 ? $" (errno {errno})" : "")}", inner)
    {
        Device = device;
        Errno = errno;
    }

    /// <summary>The device name.</summary>
    public string Device { get; }

    /// <summary>The OS error number, 0 if none.</summary>
    public int Errno { get; }
}
