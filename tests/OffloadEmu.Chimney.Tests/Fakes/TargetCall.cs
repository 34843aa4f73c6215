namespace OffloadEmu.Chimney.Tests.Fakes;

/// <summary>One request the <see cref="ScriptedTarget"/> received, with the tree as the target saw it at the call.</summary>
public sealed record TargetCall(string Name, OffloadBlock? Root, IReadOnlyList<BlockView>? Tree, ulong Context, NetBufferList? Nbl, TcpDisconnectFlags Flags, int ThreadId);
