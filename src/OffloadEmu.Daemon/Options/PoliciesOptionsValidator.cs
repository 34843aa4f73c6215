using Microsoft.Extensions.Options;

namespace OffloadEmu.Daemon.Options;

/// <summary>Validates <see cref="PoliciesOptions"/>: only optional retrieve reasons may be listed (chimney spec §6.3).</summary>
internal sealed class PoliciesOptionsValidator : IValidateOptions<PoliciesOptions>
{
    private static readonly string[] Mandatory = ["TimeoutExpiration", "InvalidState", "UploadRequested", "HardwareFailure", "ReceivedUrgentData"];

    public ValidateOptionsResult Validate(string? name, PoliciesOptions o)
    {
        var f = new List<string>();
        string allowed = string.Join(", ", Enum.GetNames<OptionalRetrieveReason>());
        for (int i = 0; i < o.OptionalRetrieveReasons.Count; i++)
        {
            string reason = o.OptionalRetrieveReasons[i] ?? "";
            string key = $"Policies:OptionalRetrieveReasons:{i}";
            if (Mandatory.Contains(reason, StringComparer.OrdinalIgnoreCase))
                f.Add($"{key}: {reason} is a mandatory reason and always on; list only optional ones ({allowed})");
            else if (!Enum.TryParse<OptionalRetrieveReason>(reason, ignoreCase: true, out var r) || !Enum.IsDefined(r) || int.TryParse(reason, out _))
                f.Add($"{key}: '{reason}' is not an optional retrieve reason; use one of {allowed}");
        }
        return f.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(f);
    }
}
