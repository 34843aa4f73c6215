namespace OffloadEmu.Chimney;

/// <summary>
/// A pass-through layer's per-object <i>offload entry</i>: the upper driver's handle of the object and the layer's own
/// handle it gave the lower target, plus the target's context id once the object is offloaded.
/// </summary>
/// <remarks>
/// Chimney spec §1, intermediate drivers: "per-object offload entry keeps both handles". Created when a new-offload
/// block goes down, registered by context when the initiate succeeds, dropped when the initiate fails or the
/// terminate completes (architecture §6: never free before the final event).
/// </remarks>
internal sealed class PassThroughObjectEntry
{
    public PassThroughObjectEntry(ulong upperHandle, ulong layerHandle)
    {
        UpperHandle = upperHandle;
        LayerHandle = layerHandle;
    }

    /// <summary>The upper driver's NdisOffloadHandle: what indications carry on the way up.</summary>
    public ulong UpperHandle { get; }

    /// <summary>The layer's NdisOffloadHandle: what the lower target stores and indicates with.</summary>
    public ulong LayerHandle { get; }

    /// <summary>The lower target's context id, 0 until the initiate completes successfully.</summary>
    public ulong Context { get; set; }

    /// <summary>Set when a terminate went down: I/O for the object can no longer be propagated (spec §1).</summary>
    public volatile bool TearingDown;
}
