using System.Runtime.CompilerServices;

namespace OffloadEmu.Cli.Tests;

internal static class TestEnvironment
{
    /// <summary>Every offloademu these tests run, in process or as a child, prints where each unfinished connection stood
    /// when a transfer times out (docs/cli.md, OFFLOADEMU_TIMEOUT_STATE): a hang seen once in CI then says why.</summary>
    [ModuleInitializer]
    internal static void Initialize() => Environment.SetEnvironmentVariable("OFFLOADEMU_TIMEOUT_STATE", "1");
}
