namespace OffloadEmu.Daemon.Hosting;

/// <summary>Exit codes of offloademud (sysexits.h values, so systemd units can tell them apart).</summary>
internal static class ExitCodes
{
    /// <summary>Clean stop.</summary>
    internal const int Success = 0;

    /// <summary>A device failed while running, or an unexpected error.</summary>
    internal const int Failure = 1;

    /// <summary>EX_CONFIG: the configuration, the command line or the environment it names is wrong; restarting will not help.</summary>
    internal const int Configuration = 78;
}
