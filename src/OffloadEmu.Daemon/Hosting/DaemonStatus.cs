namespace OffloadEmu.Daemon.Hosting;

/// <summary>The process exit code, set by services that stop the daemon because of a failure.</summary>
internal sealed class DaemonStatus
{
    private int _exitCode;

    /// <summary>0 unless a service failed at run time.</summary>
    internal int ExitCode => Volatile.Read(ref _exitCode);

    /// <summary>Records a run-time failure (the first one wins).</summary>
    internal void Fail(int exitCode) => Interlocked.CompareExchange(ref _exitCode, exitCode, 0);
}
