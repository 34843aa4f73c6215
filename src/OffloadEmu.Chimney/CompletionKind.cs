namespace OffloadEmu.Chimney;

/// <summary>What a <see cref="CompletionWork"/> item delivers: one value per <see cref="IOffloadHost"/> handler, plus a plain callback.</summary>
/// <remarks>
/// One switch over this kind dispatches every item (the System.Net.Quic shape, architecture §6), so an item is a small
/// struct and enqueuing allocates no closure. Receive indications are not here: their answer must go back to the
/// target, so a target schedules them as a <see cref="Callback"/> it writes itself (chimney spec §3).
/// </remarks>
internal enum CompletionKind : byte
{
    Callback,
    InitiateOffloadComplete,
    TerminateOffloadComplete,
    UpdateOffloadComplete,
    InvalidateOffloadComplete,
    QueryOffloadStateComplete,
    TcpOffloadSendComplete,
    TcpOffloadReceiveComplete,
    TcpOffloadDisconnectComplete,
    TcpOffloadForwardComplete,
    TcpOffloadEvent,
    NeighborOffloadEvent,
    IndicateStatus,

    /// <summary>A <see cref="Callback"/> that delivers a receive indication: <c>Handle</c> is the connection's host handle,
    /// <c>Code</c> the bytes (lets an <see cref="IEngineThreadHost"/> decide whether it takes it on the engine thread).</summary>
    IndicationCallback,
}
