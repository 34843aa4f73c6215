namespace OffloadEmu.Chimney;

/// <summary>Which side of the chimney contract broke a rule.</summary>
/// <remarks>Chimney spec §0: the host stack calls <see cref="IOffloadTarget"/>; the target calls <see cref="IOffloadHost"/>.</remarks>
public enum ContractSide
{
    /// <summary>The host stack (or layer above): requests, receive returns, indication answers.</summary>
    Host = 1,

    /// <summary>The offload target (or layer below): request return values, completions, indications.</summary>
    Target = 2,
}
