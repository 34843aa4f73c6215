namespace OffloadEmu.Chimney;

/// <summary>Which of the const, cached and delegated structures follow a block.</summary>
/// <remarks>Chimney spec §2: "All" block types carry the three in sequence.</remarks>
[Flags]
public enum OffloadStateClasses
{
    /// <summary>No state follows (reserved type).</summary>
    None = 0,

    /// <summary>Const state follows.</summary>
    Const = 1,

    /// <summary>Cached state follows.</summary>
    Cached = 2,

    /// <summary>Delegated state follows.</summary>
    Delegated = 4,

    /// <summary>Const, cached and delegated state follow, in that order.</summary>
    All = Const | Cached | Delegated,
}
