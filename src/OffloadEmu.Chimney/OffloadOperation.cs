namespace OffloadEmu.Chimney;

/// <summary>The five state operations that take an offload block tree (chimney spec §1).</summary>
internal enum OffloadOperation : byte
{
    Initiate,
    Terminate,
    Update,
    Invalidate,
    Query,
}
