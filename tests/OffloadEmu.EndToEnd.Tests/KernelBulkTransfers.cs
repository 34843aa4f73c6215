namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// The test classes that push tens of MiB through the kernel share this collection, so xunit runs them one after the
/// other: on the two shared cores two bulk transfers at once starve each other and the kernel's loss timers fire.
/// </summary>
[CollectionDefinition(Name)]
public sealed class KernelBulkTransfers
{
    public const string Name = "Kernel bulk transfers";
}
