using OffloadEmu.Daemon.Hosting;

namespace OffloadEmu.Daemon;

internal static class Program
{
    private static Task<int> Main(string[] args) => DaemonApp.RunAsync(args, settings: null, Console.Out, Console.Error);
}
