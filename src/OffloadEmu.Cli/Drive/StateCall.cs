namespace OffloadEmu.Cli.Drive;

/// <summary>A state operation in flight: the request it answers (null for the drive's own, e.g. the clock query after
/// an offload) and its connection.</summary>
internal sealed record class StateCall(string Op, string? IdJson, RawConnection Connection);
