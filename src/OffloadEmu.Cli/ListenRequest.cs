using OffloadEmu.Cli.Session;

namespace OffloadEmu.Cli;

/// <summary>A validated listen command line.</summary>
internal sealed record class ListenRequest(SessionSettings Settings, ushort Port, TransferPlan Plan, string Mode, int Count);
