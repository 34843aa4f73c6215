using OffloadEmu.Cli.Session;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli;

/// <summary>A validated connect command line (PingPong: round trips of one byte to time instead of a transfer,
/// <c>--ping-pong N</c>; 0 = none. Parallel: <c>--parallel N</c>, streams from this process; 0 = the option not given,
/// one connection with the single-connection output).</summary>
internal sealed record class ConnectRequest(SessionSettings Settings, Ipv4Address Remote, ushort Port, TransferPlan Plan, string Mode, int PingPong = 0,
    int Parallel = 0)
{
    /// <summary>Connections to open: <see cref="Parallel"/>, or 1 without the option.</summary>
    public int Streams => Math.Max(1, Parallel);

    /// <summary>Stream <paramref name="index"/>'s plan (0-based): <c>--send-bytes</c> is the total of all streams, split
    /// evenly (the first <c>total % N</c> streams one byte more), as iperf3's <c>-n</c> counts all streams together; each
    /// stream sends its share of the pattern from the pattern's start.</summary>
    public TransferPlan PlanOf(int index)
    {
        if (Parallel <= 1 || Plan.SendBytes <= 0) return Plan;
        long share = Plan.SendBytes / Parallel + (index < Plan.SendBytes % Parallel ? 1 : 0);
        return Plan with { SendBytes = share };
    }
}
