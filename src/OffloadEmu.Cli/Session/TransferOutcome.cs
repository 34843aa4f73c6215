namespace OffloadEmu.Cli.Session;

/// <summary>How a connection's transfer ended: null <see cref="Error"/> when all went well.</summary>
internal sealed record class TransferOutcome(string? Error, bool? EchoOk, string? Sha256Sent, string? Sha256Received);
