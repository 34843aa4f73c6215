using OffloadEmu.Link;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// A frame sink that runs over several queues of one link (the offload target with <c>Nic:Queues</c> &gt; 1): the link
/// service opens <see cref="QueuesWanted"/> device queues when the link can have them, reads each on a thread of its own
/// and hands each batch over with the queue it came from.
/// </summary>
internal interface IMultiQueueFrameSink : IFrameSink
{
    /// <summary>Queues the sink would run over (1: it is a single-queue sink after all).</summary>
    int QueuesWanted { get; }

    /// <summary>Instead of <see cref="IFrameSink.Attach"/>: the top of every queue opened (queue 0 first; one when the link
    /// could not have more, <paramref name="singleQueueReason"/> then says why).</summary>
    void Attach(IReadOnlyList<ILinkDevice> queues, FramePool pool, string? singleQueueReason);

    /// <summary>As <see cref="IFrameSink.OnReceived"/> for frames read on <paramref name="queue"/>, on that queue's
    /// receive thread (one thread per queue, so calls for different queues run at once).</summary>
    void OnReceived(int queue, Span<FrameBuffer> frames);
}
