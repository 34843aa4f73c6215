namespace OffloadEmu.Daemon.Configuration;

/// <summary>
/// An expected configuration or environment error (bad setting, missing interface, missing libpcap).
/// The message is one line, "Setting: what is wrong; how to fix it", printed without a stack trace.
/// </summary>
public sealed class DaemonConfigurationException : Exception
{
    /// <summary>Creates the exception with its one-line message.</summary>
    public DaemonConfigurationException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
