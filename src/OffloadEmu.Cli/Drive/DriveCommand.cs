using System.CommandLine;

namespace OffloadEmu.Cli.Drive;

/// <summary>
/// <c>offloademu drive [--daemon SOCKET]</c>: the JSON-lines driver for test scripts (docs/drive.md). One request per
/// line on stdin, one event per line on stdout; exit 0 at stdin EOF, 1 when no daemon answers or it goes away.
/// </summary>
internal static class DriveCommand
{
    public const string DefaultSocket = "/run/offloademu/control.sock";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var daemon = new Option<string>("--daemon")
        {
            HelpName = "SOCKET",
            Description = "the running offloademud's control socket (Control:Endpoint)",
            DefaultValueFactory = _ => DefaultSocket,
        };
        var cmd = new Command("drive", "Drive the daemon's offload target with JSON lines: requests on stdin, events on stdout.") { daemon };
        cmd.SetAction(async (pr, _) =>
        {
            // Events go to the process's stdout as raw UTF-8 (the one writer); the TextWriter is for help and tests.
            var output = ReferenceEquals(stdout, Console.Out) ? Console.OpenStandardOutput() : new TextWriterStream(stdout);
            using var input = new StreamReader(Console.OpenStandardInput(), System.Text.Encoding.UTF8);
            await using var events = new DriveEventWriter(output);
            var session = new DriveSession(pr.GetValue(daemon)!, events, stderr);
            return await session.RunAsync(input).ConfigureAwait(false);
        });
        return cmd;
    }
}
