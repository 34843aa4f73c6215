namespace OffloadEmu.HostStack;

/// <summary>Where a shared neighbour or path object is with respect to the target.</summary>
internal enum ObjectOffloadState
{
    NotOffloaded,
    Offloading,
    Offloaded,
    Terminating,
}
