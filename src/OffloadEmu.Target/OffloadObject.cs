using OffloadEmu.Chimney;

namespace OffloadEmu.Target;

/// <summary>An object the target holds for the host: a neighbour, a path or a TCP connection (spec §2).</summary>
internal abstract class OffloadObject
{
    protected OffloadObject(ulong context, ulong handle)
    {
        Context = context;
        Handle = handle;
    }

    /// <summary>The target's context id written into the host's slot.</summary>
    public ulong Context { get; }

    /// <summary>The host's NdisOffloadHandle, returned in every indication.</summary>
    public ulong Handle { get; }

    /// <summary>The layer of the object.</summary>
    public abstract OffloadLayer Layer { get; }

    /// <summary>Set by InvalidateOffload: nothing more is sent on it or its dependents (spec §6.7).</summary>
    public bool Invalid { get; set; }

    /// <summary>Set once its terminate completed; the object is gone.</summary>
    public bool Terminated { get; set; }
}
