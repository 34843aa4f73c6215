namespace OffloadEmu.Daemon.Options;

/// <summary>The <c>Policies</c> section: optional behaviours of the target.</summary>
public sealed class PoliciesOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Policies";

    /// <summary>
    /// Optional reasons (names of <see cref="OptionalRetrieveReason"/>) for which the target may ask the
    /// host to take a connection back. Empty (the default): only the mandatory reasons are used.
    /// </summary>
    /// <remarks>Chimney spec §6.3: the mandatory reasons are always on and cannot be listed here.</remarks>
    public List<string> OptionalRetrieveReasons { get; set; } = new();

    /// <summary>The parsed reasons; valid after validation succeeded.</summary>
    public IReadOnlySet<OptionalRetrieveReason> ParsedRetrieveReasons()
    {
        var set = new HashSet<OptionalRetrieveReason>();
        foreach (var name in OptionalRetrieveReasons)
        {
            if (Enum.TryParse<OptionalRetrieveReason>(name, ignoreCase: true, out var r) && Enum.IsDefined(r)) set.Add(r);
        }
        return set;
    }
}
