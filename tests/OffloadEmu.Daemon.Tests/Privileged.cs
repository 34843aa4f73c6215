namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// Gate for privileged tests (root, iproute2, ping, tshark). Missing prerequisites fail the test
/// loudly; OFFLOADEMU_SKIP_PRIVILEGED=1 (set by scripts/test.sh when not root) makes them return early.
/// </summary>
internal static class Privileged
{
    internal static bool ShouldRun()
    {
        if (Environment.GetEnvironmentVariable("OFFLOADEMU_SKIP_PRIVILEGED") == "1") return false;
        if (!OperatingSystem.IsLinux()) Assert.Fail("Privileged daemon tests need Linux; set OFFLOADEMU_SKIP_PRIVILEGED=1 to skip them.");
        if (!Environment.IsPrivilegedProcess) Assert.Fail("Privileged daemon tests must run as root (namespaces, TAP); set OFFLOADEMU_SKIP_PRIVILEGED=1 to skip them.");
        foreach (var tool in new[] { "ip", "ping", "tshark", "sysctl" })
            if (!Cmd.Exists(tool)) Assert.Fail($"Privileged daemon tests need '{tool}' on PATH; set OFFLOADEMU_SKIP_PRIVILEGED=1 to skip them.");
        return true;
    }
}
