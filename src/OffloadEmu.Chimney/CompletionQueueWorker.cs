namespace OffloadEmu.Chimney;

/// <summary>The thread-pool work item that drains a <see cref="CompletionQueue"/>; one per queue, reused for every drain.</summary>
/// <remarks>
/// Architecture §3 (Kestrel IOQueue shape). Kept apart from the public queue so no caller can run
/// <see cref="IThreadPoolWorkItem.Execute"/> itself and start a second drainer, which would break the one-worker,
/// posting-order guarantee.
/// </remarks>
internal sealed class CompletionQueueWorker(CompletionQueue queue) : IThreadPoolWorkItem
{
    public void Execute() => queue.Drain();
}
