using OffloadEmu.Cli.Session;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli;

/// <summary>A validated connect command line.</summary>
internal sealed record class ConnectRequest(SessionSettings Settings, Ipv4Address Remote, ushort Port, TransferPlan Plan, string Mode);
