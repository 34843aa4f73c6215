namespace OffloadEmu.Chimney;

/// <summary>One broken chimney contract rule, as a <see cref="ContractChecker"/> saw it.</summary>
/// <remarks>Chimney spec §0-§6; <see cref="Message"/> names the spec section the rule comes from.</remarks>
/// <param name="Rule">The rule broken.</param>
/// <param name="Side">Who broke it (<see cref="ContractRules.GetSide"/> of the rule).</param>
/// <param name="Context">The target's context id of the object concerned, or 0 when unknown.</param>
/// <param name="Handle">The host's offload handle of the object concerned, or 0 when unknown.</param>
/// <param name="RequestId">The <see cref="NetBufferList.RequestId"/> of the NBL concerned, or 0.</param>
/// <param name="Message">What happened, citing the spec section.</param>
public sealed record ContractViolation(ContractRule Rule, ContractSide Side, ulong Context, ulong Handle, ulong RequestId, string Message)
{
    /// <summary>The rule's stable id, e.g. <c>CC103</c>.</summary>
    public string RuleId => ContractRules.GetId(Rule);

    /// <summary>One line: id, rule, side, object and message.</summary>
    public override string ToString()
        => $"{RuleId} {Rule} ({Side}) ctx=0x{Context:x} handle=0x{Handle:x} req={RequestId}: {Message}";
}
