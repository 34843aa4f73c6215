namespace OffloadEmu.Cli.Session;

/// <summary>What one connection does: what it sends, what it does with what it receives, and how hand-overs are
/// paced.</summary>
/// <param name="SendBytes">Pattern bytes to send (<c>--send-bytes</c>, <c>--source</c>); 0 = none.</param>
/// <param name="SendFile">A file to send instead (<c>--send</c>).</param>
/// <param name="Receive">What happens to received bytes.</param>
/// <param name="UploadEvery">Upload and re-offload every this many bytes (0 = never).</param>
/// <param name="CycleOnReceived">Count <paramref name="UploadEvery"/> on received bytes instead of sent ones.</param>
internal sealed record class TransferPlan(long SendBytes, string? SendFile, ReceiveMode Receive, long UploadEvery, bool CycleOnReceived)
{
    /// <summary>True when the connection sends something of its own (pattern or file).</summary>
    public bool Sends => SendBytes > 0 || SendFile is not null;
}
