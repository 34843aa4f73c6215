using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

/// <summary>SendFrame (client to server) and ReceiveFrame (server to client): one Ethernet frame.</summary>
internal sealed class FrameMessage(MessageType type) : ControlMessage
{
    public override MessageType Type { get; } = type;

    /// <summary>The frame when decoded (pooled; released with <see cref="Release"/>).</summary>
    public PooledBytes? Frame { get; init; }

    /// <summary>The frame to encode when it is not pooled.</summary>
    public ReadOnlyMemory<byte> Bytes { get; init; }

    public ReadOnlySpan<byte> Span => Frame is { } f ? f.Span : Bytes.Span;

    public override void WritePayload(ref MessageWriter w) => w.Blob(Span);

    public override void Release() => Frame?.Release();
}
