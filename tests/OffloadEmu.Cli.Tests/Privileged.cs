namespace OffloadEmu.Cli.Tests;

/// <summary>
/// Gate for the privileged tests, as in OffloadEmu.EndToEnd.Tests: they need Linux, root, iproute2, sysctl and socat.
/// When those are missing the test fails with a clear message, so a CI run without root cannot pass silently; set
/// OFFLOADEMU_SKIP_PRIVILEGED=1 to make every privileged test return early (reported as passed, because xunit 2 has
/// no dynamic skip; scripts/test.sh filters them out then).
/// </summary>
internal static class Privileged
{
    internal static bool ShouldRun()
    {
        if (Environment.GetEnvironmentVariable("OFFLOADEMU_SKIP_PRIVILEGED") == "1") return false;
        if (!OperatingSystem.IsLinux()) Assert.Fail("Privileged end-to-end tests need Linux; set OFFLOADEMU_SKIP_PRIVILEGED=1 to skip them.");
        if (!Environment.IsPrivilegedProcess) Assert.Fail("Privileged end-to-end tests must run as root (network namespaces, TAP); set OFFLOADEMU_SKIP_PRIVILEGED=1 to skip them.");
        foreach (var tool in new[] { "ip", "sysctl", "socat" })
        {
            if (Cmd.Which(tool) is null) Assert.Fail($"Privileged end-to-end tests need '{tool}' on PATH; set OFFLOADEMU_SKIP_PRIVILEGED=1 to skip them.");
        }
        return true;
    }
}
