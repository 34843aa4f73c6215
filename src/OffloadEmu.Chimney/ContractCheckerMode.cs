namespace OffloadEmu.Chimney;

/// <summary>What a <see cref="ContractChecker"/> does when a rule is broken.</summary>
public enum ContractCheckerMode
{
    /// <summary>
    /// Record the violation (list, callback, log) and throw <see cref="ContractViolationException"/> at the call
    /// site, without forwarding the offending call. The default, for tests.
    /// </summary>
    Throw = 0,

    /// <summary>Record the violation (list, callback, log) and forward the call unchanged.</summary>
    Record = 1,
}
