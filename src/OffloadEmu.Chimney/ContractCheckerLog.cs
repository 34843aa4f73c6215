using Microsoft.Extensions.Logging;

namespace OffloadEmu.Chimney;

/// <summary>The contract checker's log messages (event ids 7xxx: the chimney contract has no layer range of its own, architecture §7).</summary>
internal static partial class ContractCheckerLog
{
    [LoggerMessage(7001, LogLevel.Warning, "Chimney contract violation {RuleId} {Rule} by the {Side}: {Message}")]
    public static partial void Violation(ILogger logger, string ruleId, ContractRule rule, ContractSide side, string message);
}
