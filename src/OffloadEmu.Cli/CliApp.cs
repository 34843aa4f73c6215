using System.CommandLine;

namespace OffloadEmu.Cli;

/// <summary>Builds the offloademu command tree.</summary>
internal static class CliApp
{
    public static int Run(string[] args)
    {
        var root = new RootCommand("OffloadEmu: a user-mode TCP offload (chimney) NIC emulator.");
        return root.Parse(args).Invoke();
    }
}
