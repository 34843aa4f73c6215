using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Client;

/// <summary>Received bytes the host has not taken yet; <see cref="Credited"/> when they came from an indication (their
/// consumption is reported to the server as receive credit).</summary>
internal sealed class HeldChunk(PooledBytes bytes, bool credited)
{
    public PooledBytes Bytes { get; } = bytes;
    public int Offset { get; set; }
    public int Remaining => Bytes.Length - Offset;
    public bool Credited { get; } = credited;
}
