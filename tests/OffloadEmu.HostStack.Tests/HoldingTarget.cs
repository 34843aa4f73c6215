namespace OffloadEmu.HostStack.Tests;

/// <summary>An <see cref="IOffloadTarget"/> decorator that holds initiate requests until <see cref="Release"/>, so
/// that segments arrive on the non-offload path while an offload is in progress (spec §4 case 1).</summary>
internal sealed class HoldingTarget(IOffloadTarget inner) : DelegatingOffloadTarget(inner)
{
    private readonly List<OffloadBlock> _held = [];

    public bool Hold { get; set; } = true;

    public int HeldCount => _held.Count;

    public void Release()
    {
        Hold = false;
        foreach (var root in _held) Inner.InitiateOffload(root);
        _held.Clear();
    }

    public override NdisStatus InitiateOffload(OffloadBlock root)
    {
        if (!Hold) return Inner.InitiateOffload(root);
        _held.Add(root);
        return NdisStatus.Pending;
    }
}
