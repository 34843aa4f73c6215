namespace OffloadEmu.Cli.Session;

/// <summary>A parsed <c>--link KIND:NAME</c>.</summary>
internal readonly record struct LinkSpec(LinkKind Kind, string Name)
{
    /// <summary>Parses <c>tap:NAME</c>, <c>packet:NAME</c> or <c>pcap:NAME</c>; the error names what is wrong.</summary>
    public static bool TryParse(string text, out LinkSpec spec, out string error)
    {
        spec = default;
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == text.Length - 1)
        {
            error = $"--link '{text}': expected KIND:NAME with KIND tap, packet or pcap (e.g. tap:oe0)";
            return false;
        }
        string kind = text[..colon], name = text[(colon + 1)..];
        LinkKind k;
        switch (kind.ToLowerInvariant())
        {
            case "tap": k = LinkKind.Tap; break;
            case "packet": k = LinkKind.Packet; break;
            case "pcap": k = LinkKind.Pcap; break;
            default:
                error = $"--link '{text}': unknown link kind '{kind}'; use tap, packet or pcap";
                return false;
        }
        if (k != LinkKind.Pcap && (name.Length > 15 || name.Contains('/') || name.Any(char.IsWhiteSpace)))
        {
            error = $"--link '{text}': '{name}' is not a Linux interface name (at most 15 characters, no '/' or spaces)";
            return false;
        }
        spec = new LinkSpec(k, name);
        error = "";
        return true;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()}:{Name}";
}
