namespace OffloadEmu.Chimney;

/// <summary>Thrown by a <see cref="ContractChecker"/> in <see cref="ContractCheckerMode.Throw"/> mode at the call that broke a rule.</summary>
/// <remarks>Chimney spec §0-§6; the rule and the spec section are in <see cref="Violation"/>.</remarks>
public sealed class ContractViolationException : InvalidOperationException
{
    /// <summary>Creates the exception for <paramref name="violation"/>.</summary>
    public ContractViolationException(ContractViolation violation)
        : base((violation ?? throw new ArgumentNullException(nameof(violation))).ToString())
        => Violation = violation;

    /// <summary>The first rule the call broke (all of them are in <see cref="ContractChecker.Violations"/>).</summary>
    public ContractViolation Violation { get; }
}
