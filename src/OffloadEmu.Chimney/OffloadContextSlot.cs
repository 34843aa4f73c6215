namespace OffloadEmu.Chimney;

/// <summary>
/// The host-owned slot the target writes its context into (what NDIS passes as <c>PVOID *MiniportOffloadContext</c>).
/// </summary>
/// <remarks>
/// Chimney spec §0 and §2: the host keeps the slot per offloaded object and hands it back in later requests; the
/// target writes its context on a successful offload and never touches the slot of a failed block. [EMU] the context
/// is a 64-bit target context id; 0 is "no context" (NULL).
/// </remarks>
public sealed class OffloadContextSlot
{
    /// <summary>Creates an empty slot (for a new offload).</summary>
    public OffloadContextSlot()
    {
    }

    /// <summary>Creates a slot that already holds <paramref name="context"/> (for a linker).</summary>
    public OffloadContextSlot(ulong context) => Context = context;

    /// <summary>The target's context id, or 0 when none has been written.</summary>
    public ulong Context { get; set; }

    /// <summary>True when the target's context has been written.</summary>
    public bool HasContext => Context != 0;

    /// <inheritdoc/>
    public override string ToString() => HasContext ? $"ctx 0x{Context:x}" : "ctx (none)";
}
