using OffloadEmu.Link;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// The opened device stack, outermost first: Tracing over Capture over Impairment over the device.
/// Disposing <see cref="Top"/> disposes every layer inward (each decorator owns its inner device),
/// which flushes and closes the capture before the device is closed.
/// </summary>
internal sealed class LinkStack
{
    internal LinkStack(ILinkDevice top, ILinkDevice device, CaptureDevice? capture, MemoryLink? memoryPeer, string description)
        : this([top], [device], capture, memoryPeer, description)
    {
    }

    /// <summary>A stack over several queues of one link (<c>Nic:Queues</c> &gt; 1 on a multi-queue TAP or a fanout group):
    /// one decorated top per queue (one capture file for all), queue 0 first.</summary>
    internal LinkStack(IReadOnlyList<ILinkDevice> queues, IReadOnlyList<ILinkDevice> devices, CaptureDevice? capture, MemoryLink? memoryPeer, string description)
    {
        Queues = queues;
        Devices = devices;
        Top = queues[0];
        Device = devices[0];
        Capture = capture;
        MemoryPeer = memoryPeer;
        Description = description;
    }

    /// <summary>The top of every queue (one element for a single-queue link).</summary>
    internal IReadOnlyList<ILinkDevice> Queues { get; }

    /// <summary>The bottom of every queue (their statistics count each queue's frames).</summary>
    internal IReadOnlyList<ILinkDevice> Devices { get; }

    /// <summary>The supervisor of every queue (empty for memory).</summary>
    internal IReadOnlyList<SupervisedDevice> Supervisors { get; init; } = [];

    /// <summary>Why the stack has one queue although more were asked for (null when it has them, or one was asked for).</summary>
    internal string? SingleQueueReason { get; init; }

    /// <summary>Frames and bytes in and out and drops, summed over the queues.</summary>
    internal (long FramesIn, long BytesIn, long FramesOut, long BytesOut) Totals()
    {
        long fi = 0, bi = 0, fo = 0, bo = 0;
        foreach (var d in Devices)
        {
            var s = d.Statistics;
            fi += s.FramesIn; bi += s.BytesIn; fo += s.FramesOut; bo += s.BytesOut;
        }
        return (fi, bi, fo, bo);
    }

    /// <summary>Super-frames (segmentation offload) received and sent, summed over the queues.</summary>
    internal (long In, long Out) SuperFrames()
    {
        long i = 0, o = 0;
        foreach (var d in Devices)
        {
            i += d.Statistics.SuperFramesIn;
            o += d.Statistics.SuperFramesOut;
        }
        return (i, o);
    }

    /// <summary>Drops of <paramref name="reason"/>, summed over the queues.</summary>
    internal long Drops(DropReason reason)
    {
        long n = 0;
        foreach (var d in Devices) n += d.Statistics.Drops(reason);
        return n;
    }

    /// <summary>"in N frames/B, out ..." over every queue (the stop line).</summary>
    internal string StatisticsSummary()
    {
        if (Devices.Count == 1) return Device.Statistics.ToString();
        var (fi, bi, fo, bo) = Totals();
        long drops = 0;
        foreach (var d in Devices) drops += d.Statistics.TotalDrops;
        return $"in {fi} frames/{bi} B, out {fo} frames/{bo} B, drops {drops} ({Devices.Count} queues)";
    }

    /// <summary>Closes the queues outermost first, queue 0 (which holds the capture file) last.</summary>
    internal void Dispose()
    {
        for (int i = Queues.Count - 1; i >= 0; i--) Queues[i].Dispose();
    }

    /// <summary>The device the receive loop and the sink use (queue 0's top).</summary>
    internal ILinkDevice Top { get; }

    /// <summary>Queue 0's device at the bottom (its statistics are shared by every layer): the <see cref="Supervisor"/> over
    /// the real device, or the memory link itself.</summary>
    internal ILinkDevice Device { get; }

    /// <summary>Survives the loss of the real device (tap, packet, pcap; null for memory).</summary>
    internal SupervisedDevice? Supervisor { get; init; }

    /// <summary>The capture layer, if any.</summary>
    internal CaptureDevice? Capture { get; }

    /// <summary>For <see cref="Options.LinkKind.Memory"/>: the other end of the cable (the test's or demo's side).</summary>
    internal MemoryLink? MemoryPeer { get; }

    /// <summary>"tap oe0 (02:..., peer ..., mtu 1500)" and the like, for the start line.</summary>
    internal string Description { get; }
}
