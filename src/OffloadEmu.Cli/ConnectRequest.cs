using OffloadEmu.Cli.Session;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli;

/// <summary>A validated connect command line (PingPong: round trips of one byte to time instead of a transfer,
/// <c>--ping-pong N</c>; 0 = none).</summary>
internal sealed record class ConnectRequest(SessionSettings Settings, Ipv4Address Remote, ushort Port, TransferPlan Plan, string Mode, int PingPong = 0);
