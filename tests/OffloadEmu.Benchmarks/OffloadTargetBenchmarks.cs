using BenchmarkDotNet.Attributes;
using OffloadEmu.Chimney;
using OffloadEmu.Tcp;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// The offload target over a <see cref="Link.Devices.MemoryLink"/> in manual-poll mode, one thread (see
/// <see cref="TargetBenchLab"/>). <c>InitiateTerminate</c>: one neighbour + path + TCP tree offloaded and uploaded again
/// (both completions delivered); <c>SendCompletionLatency</c>: a 1-byte TcpOffloadSend until its completion reaches the
/// host, the peer machine ACKing every segment at once; <c>BulkSend</c>: steady-state bulk send through the target,
/// NBLs recycled, per 1448-byte segment (the allocation column must read 0 B).
/// </summary>
[MemoryDiagnoser]
public class OffloadTargetBenchmarks
{
    private const int BulkSegments = 1024;
    private const int SegmentPayload = 1448;   // MSS 1460 minus the timestamps option
    private const int BulkNblSize = 64 * 1024;
    private const int BulkNbls = 8;

    private TargetBenchLab _lab = null!;
    private OffloadBlock _root = null!;
    private OffloadBlock[] _blocks = null!;
    private ulong _context;
    private NetBufferList _oneByte = null!;

    private static TcpConfig PeerConfig => TcpConfig.Default with { ReceiveBufferSize = 256 * 1024, Sack = true, AckFrequency = 1 };

    private static TcpConfig HostConfig => TcpConfig.Default with { ReceiveBufferSize = 64 * 1024, Sack = true };

    [GlobalSetup(Target = nameof(InitiateTerminate))]
    public void SetupInitiateTerminate()
    {
        _lab = new TargetBenchLab(PeerConfig, HostConfig);
        _root = _lab.BuildTree(out var tcp);
        _blocks = [_root, _root.DependentBlockList!, tcp];
    }

    [Benchmark(Description = "initiate + terminate of one neighbour+path+TCP tree (both completions)")]
    public int InitiateTerminate()
    {
        var lab = _lab;
        lab.Now = lab.Now.AddMicroseconds(10);
        foreach (var block in _blocks) block.MiniportOffloadContext!.Context = 0;   // new offloads again
        lab.Target.InitiateOffload(_root);
        int initiated = lab.Initiated;
        while (lab.Initiated == initiated) lab.Step();
        lab.Target.TerminateOffload(_root);
        int terminated = lab.Terminated;
        while (lab.Terminated == terminated) lab.Step();
        return lab.Terminated;
    }

    [GlobalSetup(Target = nameof(SendCompletionLatency))]
    public void SetupLatency()
    {
        _lab = new TargetBenchLab(PeerConfig, HostConfig);
        _context = _lab.Offload();
        _oneByte = new NetBufferList(1, 1);
        _oneByte.AddBuffer().AddSegment(new byte[] { 0x42 });
    }

    [Benchmark(Description = "1-byte TcpOffloadSend until its completion (peer ACKs at once)")]
    public long SendCompletionLatency()
    {
        var lab = _lab;
        lab.Now = lab.Now.AddMicroseconds(10);
        var nbl = _oneByte;
        nbl[0].SetData(0, 1);
        nbl.TcpOffloadBytesTransferred = 0;
        long completed = lab.SendsCompleted;
        lab.Target.TcpOffloadSend(_context, nbl);
        while (lab.SendsCompleted == completed) lab.Step();
        lab.CompletedSends.Clear();
        return lab.BytesAcknowledged;
    }

    [GlobalSetup(Target = nameof(BulkSend))]
    public void SetupBulk()
    {
        _lab = new TargetBenchLab(PeerConfig, HostConfig);
        _context = _lab.Offload();
        var data = new byte[BulkNblSize];
        new Random(7).NextBytes(data);
        for (int i = 0; i < BulkNbls; i++)
        {
            var nbl = new NetBufferList(1, 1);
            nbl.AddBuffer().AddSegment(data);
            _lab.CompletedSends.Push(nbl);
        }
    }

    [Benchmark(Description = "bulk TcpOffloadSend steady state, per 1448-byte segment (target + peer + ACKs)", OperationsPerInvoke = BulkSegments)]
    public long BulkSend()
    {
        var lab = _lab;
        long target = lab.PeerBytesRead + (long)BulkSegments * SegmentPayload;
        while (lab.PeerBytesRead < target)
        {
            while (lab.CompletedSends.TryPop(out var nbl))
            {
                nbl[0].SetData(0, BulkNblSize);
                nbl.TcpOffloadBytesTransferred = 0;
                lab.Target.TcpOffloadSend(_context, nbl);
            }
            lab.Now = lab.Now.AddMicroseconds(10);
            lab.Step();
        }
        return lab.PeerBytesRead;
    }

    [GlobalCleanup]
    public void Cleanup() => _lab?.Dispose();
}
