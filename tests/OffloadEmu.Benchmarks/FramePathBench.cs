using System.Diagnostics;
using OffloadEmu.Chimney;
using OffloadEmu.Tcp;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// <c>framepath [seconds] [send|receive|both]</c>: the target's own CPU per 1448-byte segment in bulk, without a device
/// or a kernel (docs/performance.md, "Default-mode CPU per frame"). <see cref="TargetBenchLab"/> on one thread: the
/// target's share (its engine round and its completions: requests, segmentation or segment input, checksums, headers,
/// the MemoryLink copy, ACKs, completions) is timed apart from the peer machine's: the process's CPU time per segment,
/// split by the wall time each part took, which moves less with the machine's load than a rate does. <c>send</c>: eight 64 KiB NBLs kept in flight (the
/// peer ACKs every segment). <c>receive</c>: the peer machine sends without end, the host keeps eight 64 KiB receive
/// posts queued (reposted as they complete); the target ACKs every second segment (TcpAckFrequency 2). <c>indicate</c>:
/// as receive, but no posts: everything reaches the host in receive indications, which it copies out and returns at once.
/// </summary>
internal static class FramePathBench
{
    private const int SegmentPayload = 1448;
    private const int NblSize = 64 * 1024;
    private const int Nbls = 8;

    public static int Run(string[] args)
    {
        double seconds = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 3;
        string mode = args.Length > 2 ? args[2] : "both";
        if (mode is "send" or "both") Send(seconds);
        if (mode is "receive" or "both") Receive(seconds);
        if (mode is "indicate") Indicate(seconds);
        return 0;
    }

    private static TcpConfig PeerConfig(int ackFrequency) => TcpConfig.Default with { ReceiveBufferSize = 4 << 20, Sack = true, AckFrequency = ackFrequency };

    private static TcpConfig HostConfig => TcpConfig.Default with { ReceiveBufferSize = 4 << 20, Sack = true };

    private static void Send(double seconds)
    {
        using var lab = new TargetBenchLab(PeerConfig(1), HostConfig);
        ulong context = lab.Offload();
        var data = new byte[NblSize];
        new Random(7).NextBytes(data);
        for (int i = 0; i < Nbls; i++)
        {
            var nbl = new NetBufferList(1, 1);
            nbl.AddBuffer().AddSegment(data);
            lab.CompletedSends.Push(nbl);
        }
        void Round()
        {
            while (lab.CompletedSends.TryPop(out var nbl))
            {
                nbl[0].SetData(0, NblSize);
                nbl.TcpOffloadBytesTransferred = 0;
                lab.Target.TcpOffloadSend(context, nbl);
            }
            lab.Now = lab.Now.AddMicroseconds(10);
        }
        Measure("send", seconds, lab, Round, () => lab.PeerBytesRead);
    }

    private static void Receive(double seconds)
    {
        using var lab = new TargetBenchLab(PeerConfig(2), HostConfig);
        ulong context = lab.Offload();
        for (int i = 0; i < Nbls; i++)
        {
            var nbl = new NetBufferList(1, 1);
            nbl.AddBuffer().AddWritableSegment(new byte[NblSize]);
            lab.CompletedReceives.Push(nbl);
        }
        var data = new byte[NblSize];
        new Random(7).NextBytes(data);
        // The peer's send buffers (the same 64 KiB) are queued again as it completes them: 2 MiB queued at all times.
        var free = new Stack<ITcpSendBuffer>();
        for (int i = 0; i < 32; i++) free.Push(new MemorySendBuffer(data));
        lab.Peer.SendCompletionSink = new Recycler(free);
        void Round()
        {
            while (lab.CompletedReceives.TryPop(out var nbl))
            {
                nbl[0].SetData(0, NblSize);
                nbl.TcpOffloadBytesTransferred = 0;
                lab.Target.TcpOffloadReceive(context, nbl);
            }
            while (free.TryPop(out var buffer)) lab.Peer.Enqueue(buffer);
            lab.Now = lab.Now.AddMicroseconds(10);
        }
        Measure("receive", seconds, lab, Round, () => lab.ReceiveBytesCompleted);
    }

    private static void Indicate(double seconds)
    {
        using var lab = new TargetBenchLab(PeerConfig(2), HostConfig);
        lab.AcceptIndications = true;
        lab.Offload();
        var data = new byte[NblSize];
        new Random(7).NextBytes(data);
        var free = new Stack<ITcpSendBuffer>();
        for (int i = 0; i < 32; i++) free.Push(new MemorySendBuffer(data));
        lab.Peer.SendCompletionSink = new Recycler(free);
        void Round()
        {
            while (free.TryPop(out var buffer)) lab.Peer.Enqueue(buffer);
            lab.Now = lab.Now.AddMicroseconds(10);
        }
        Measure("indicate", seconds, lab, Round, () => lab.IndicatedBytes);
        Console.WriteLine(FormattableString.Invariant($"indicate: indications={lab.Indications} bytes_per_indication={lab.IndicatedBytes / Math.Max(1, lab.Indications)}"));
    }

    private static void Measure(string name, double seconds, TargetBenchLab lab, Action round, Func<long> moved)
    {
        // Warm-up: tiering settles, rings and pools reach their steady size.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < Math.Min(2, seconds)) { round(); Step(lab, out _, out _); }
        long bytes0 = moved();
        long targetTicks = 0, peerTicks = 0;
        long alloc0 = GC.GetAllocatedBytesForCurrentThread();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            round();
            Step(lab, out long t, out long p);
            targetTicks += t;
            peerTicks += p;
        }
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        long alloc = GC.GetAllocatedBytesForCurrentThread() - alloc0;
        double segments = (moved() - bytes0) / (double)SegmentPayload;
        double total = targetTicks + peerTicks;
        double cpuNs = cpu.TotalMilliseconds * 1e6 / segments;
        Console.WriteLine(FormattableString.Invariant(
            $"{name}: segments={segments:F0} target_ns_per_segment={cpuNs * targetTicks / total:F0} peer_ns_per_segment={cpuNs * peerTicks / total:F0} cpu_ns_per_segment={cpuNs:F0} wall_s={sw.Elapsed.TotalSeconds:F2} cpu_s={cpu.TotalSeconds:F2} allocated_per_segment={alloc / segments:F2}"));
    }

    private sealed class Recycler(Stack<ITcpSendBuffer> free) : ITcpSendCompletionSink
    {
        public void OnSendCompleted(ITcpSendBuffer buffer, int byteCount) => free.Push(buffer);
    }

    // One round as TargetBenchLab.Step, with the target's part (engine round + completions) timed apart from the peer's.
    private static void Step(TargetBenchLab lab, out long targetTicks, out long peerTicks)
    {
        long t0 = Stopwatch.GetTimestamp();
        lab.Target.Poll(lab.Now);
        lab.Queue.RunPending();
        long t1 = Stopwatch.GetTimestamp();
        lab.StepPeer();
        long t2 = Stopwatch.GetTimestamp();
        targetTicks = t1 - t0;
        peerTicks = t2 - t1;
    }
}
