namespace OffloadEmu.Control.Status;

/// <summary>Frames a link device dropped for one reason (the names of <c>OffloadEmu.Link.DropReason</c>).</summary>
public readonly record struct LinkDropCount(string Reason, ulong Count);
