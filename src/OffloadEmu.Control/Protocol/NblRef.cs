using OffloadEmu.Chimney;

namespace OffloadEmu.Control.Protocol;

/// <summary>An NBL named by the client's id, as a completion or a terminate returns it: status, info values and, per NB,
/// how far its data window moved and what is left.</summary>
internal sealed class NblRef
{
    public ulong Id { get; init; }
    public NdisStatus Status { get; init; }
    public int BytesTransferred { get; init; }
    public int[] Advance { get; init; } = [];
    public int[] Remaining { get; init; } = [];
}
