using Microsoft.Extensions.Logging;

namespace OffloadEmu.Chimney;

/// <summary>Settings of a <see cref="ContractChecker"/>.</summary>
public sealed class ContractCheckerOptions
{
    /// <summary>Throw at the offending call (default) or only record.</summary>
    public ContractCheckerMode Mode { get; init; } = ContractCheckerMode.Throw;

    /// <summary>Called for every violation, in both modes, on the thread of the offending call.</summary>
    public Action<ContractViolation>? OnViolation { get; init; }

    /// <summary>Receives every violation as a warning (event id 7001), in both modes.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>NBLs expected in flight at once: the tracking tables are sized for it up front.</summary>
    public int ExpectedOutstandingNbls { get; init; } = 1024;

    /// <summary>
    /// How many completed NBLs and trees (and returned NBLs) are remembered to report a second completion as
    /// <see cref="ContractRule.DuplicateCompletion"/> rather than <see cref="ContractRule.UnknownCompletion"/>.
    /// </summary>
    public int RecentWindow { get; init; } = 4096;
}
