using OffloadEmu.Tcp;

namespace OffloadEmu.Tcp.Tests;

internal sealed class RecordingSink : ITcpSendCompletionSink
{
    public List<(ITcpSendBuffer Buffer, int Bytes)> Completed { get; } = new();

    public void OnSendCompleted(ITcpSendBuffer buffer, int byteCount) => Completed.Add((buffer, byteCount));
}
