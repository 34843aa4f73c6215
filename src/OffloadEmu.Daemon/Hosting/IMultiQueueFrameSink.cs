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

    /// <summary>True after <see cref="Attach"/> when the sink reads the queues itself (the target's engine loops poll each
    /// queue's readiness descriptor and read it inline): the link service then reads nothing and calls no
    /// <see cref="OnReceived"/>; it only watches the link's health and opens a lost link again.</summary>
    bool ReadsQueues { get; }

    /// <summary>The link's devices were opened again after a loss (<see cref="SupervisedDevice.Replace"/>): a sink that
    /// reads the queues itself looks at their new descriptors now rather than at its next timeout.</summary>
    void QueuesReplaced();
}
