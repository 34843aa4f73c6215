using System.CommandLine;

namespace OffloadEmu.Cli;

/// <summary>Builds the offloademu command tree.</summary>
internal static class CliApp
{
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = new RootCommand("OffloadEmu: a user-mode TCP offload (chimney) NIC emulator.");
        root.Subcommands.Add(DecodeCommand.Create(stdout, stderr));
        root.Subcommands.Add(ConnectCommand.Create(stdout, stderr));
        root.Subcommands.Add(ListenCommand.Create(stdout, stderr));
        root.Subcommands.Add(Drive.DriveCommand.Create(stdout, stderr));
        root.Subcommands.Add(Status.StatusCommand.Create(stdout, stderr));
        root.Subcommands.Add(Status.StatsCommand.Create(stdout, stderr));
        var parse = root.Parse(args);
        return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }
}
