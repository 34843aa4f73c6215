namespace OffloadEmu.Chimney;

/// <summary>Facts about each <see cref="ContractRule"/>: id, side and spec section.</summary>
/// <remarks>Chimney spec §0-§6; the table is also in <c>docs/chimney.md</c>, "Contract checker".</remarks>
public static class ContractRules
{
    /// <summary>The stable id of <paramref name="rule"/>: <c>CC</c> followed by its value.</summary>
    public static string GetId(ContractRule rule) => "CC" + ((int)rule).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The side that breaks <paramref name="rule"/>: 1xx target, 2xx host.</summary>
    public static ContractSide GetSide(ContractRule rule) => (int)rule >= 200 ? ContractSide.Host : ContractSide.Target;

    /// <summary>The chimney spec sections <paramref name="rule"/> is derived from.</summary>
    public static string GetSpecSection(ContractRule rule) => rule switch
    {
        ContractRule.RequestNotPending => "§0, §1, §7",
        ContractRule.ReceiveReturnNotSuccess => "§1, §9.11",
        ContractRule.DuplicateCompletion => "§0, §1",
        ContractRule.UnknownCompletion => "§0, §1",
        ContractRule.CompletionOutOfOrder => "§3, §5",
        ContractRule.CompletionByteCount => "§3, §5, §6.1",
        ContractRule.DisconnectBeforeEarlierSends => "§6.1",
        ContractRule.CompletionAfterTerminate => "§6.6",
        ContractRule.TerminateWithOutstandingIo => "§4, §5, §6.6",
        ContractRule.InvalidTreeCompletion => "§1, §2, §6.7",
        ContractRule.IndicationOnUnknownObject => "§0, §6.2, §6.3, §6.4",
        ContractRule.IndicationBeforeInitiateCompleted => "§3",
        ContractRule.IndicationStatusNotSuccess => "§3",
        ContractRule.IndicationWhilePostsAvailable => "§3",
        ContractRule.IndicationAfterRefusal => "§3",
        ContractRule.ReceiveDeliveryOverlap => "§3",
        ContractRule.DisconnectIndicatedBeforeDataConsumed => "§6.2",
        ContractRule.DataAfterDisconnectIndicated => "§3, §6.2",
        ContractRule.IndicationNblInUse => "§0, §3",
        ContractRule.ReceiveCompletionNotAdvanced => "§3",
        ContractRule.IoOnUnknownConnection => "§0, §1",
        ContractRule.IoAfterTerminate => "§4, §5, §6.6",
        ContractRule.NblStillOwned => "§0, §1",
        ContractRule.ReceiveReturnTwice => "§3",
        ContractRule.ReceiveReturnUnknown => "§3, §6.6",
        ContractRule.BlockStateReused => "§1, §2",
        ContractRule.MalformedTree => "§2",
        ContractRule.StateOperationOnUnavailableObject => "§2, §6.6, §6.7",
        ContractRule.IndicationAnswerInvalid => "§3",
        ContractRule.ReceivePostPrefillInvalid => "§3",
        _ => "?",
    };
}
