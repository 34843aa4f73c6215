using OffloadEmu.HostStack;

namespace OffloadEmu.Cli.Session;

/// <summary>A parsed <c>--offload immediate|after:N|never</c>.</summary>
internal readonly record struct OffloadChoice(OffloadPolicy Policy, long AfterBytes)
{
    /// <summary>Offload as soon as the handshake completed (the default).</summary>
    public static OffloadChoice Immediate => new(OffloadPolicy.AfterHandshake, 0);

    /// <summary>Parses the option's value; <c>after:N</c> takes a size (<see cref="SizeParser"/>).</summary>
    public static bool TryParse(string text, out OffloadChoice choice, out string error)
    {
        choice = Immediate;
        error = "";
        switch (text.ToLowerInvariant())
        {
            case "immediate": return true;
            case "never": choice = new OffloadChoice(OffloadPolicy.Never, 0); return true;
        }
        if (text.StartsWith("after:", StringComparison.OrdinalIgnoreCase)
            && SizeParser.TryParse(text["after:".Length..], out long n) && n > 0)
        {
            choice = new OffloadChoice(OffloadPolicy.AfterBytes, n);
            return true;
        }
        error = $"--offload '{text}': expected immediate, never or after:N (N bytes moved, e.g. after:64K)";
        return false;
    }

    /// <inheritdoc/>
    public override string ToString() => Policy switch
    {
        OffloadPolicy.Never => "never",
        OffloadPolicy.AfterBytes => $"after:{AfterBytes}",
        _ => "immediate",
    };
}
