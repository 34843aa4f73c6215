namespace OffloadEmu.Cli.Session;

/// <summary>A problem the user can fix, reported as one line on stderr with <see cref="ExitCode"/>
/// (2 for a bad command line, 1 for a failure at run time).</summary>
internal sealed class CliUsageException : Exception
{
    public CliUsageException(string message, int exitCode = 2, Exception? inner = null) : base(message, inner) => ExitCode = exitCode;

    /// <summary>The process exit status to report.</summary>
    public int ExitCode { get; }
}
