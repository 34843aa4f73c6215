using Microsoft.Extensions.Options;
using OffloadEmu.Link.Decorators;

namespace OffloadEmu.Daemon.Options;

/// <summary>Validates <see cref="ImpairmentOptions"/> by parsing both directions with the netem grammar.</summary>
internal sealed class ImpairmentOptionsValidator : IValidateOptions<ImpairmentOptions>
{
    public ValidateOptionsResult Validate(string? name, ImpairmentOptions o)
    {
        var f = new List<string>();
        Spec(f, "Impairment:Ingress", o.Ingress);
        Spec(f, "Impairment:Egress", o.Egress);
        return f.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(f);
    }

    private static void Spec(List<string> f, string key, string? text)
    {
        try
        {
            ImpairmentSpec.Parse(text ?? "");
        }
        catch (FormatException ex)
        {
            f.Add($"{key}: {ex.Message.TrimEnd('.')}; write it in the netem grammar (e.g. \"delay 5ms 1ms loss 1%\") or leave it empty");
        }
    }
}
