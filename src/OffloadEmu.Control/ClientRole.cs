namespace OffloadEmu.Control;

/// <summary>What a control client says it is in its hello (docs/control.md, sessions).</summary>
public enum ClientRole : byte
{
    /// <summary>A host stack bound to the target: it offloads, sends and receives, and sees adapter status and frames.</summary>
    Host = 0,

    /// <summary>A status tool (`offloademu status`/`stats`): it may only query (status, statistics, parameters), receives
    /// no indications, events or frames, and changes nothing.</summary>
    Monitor = 1,
}
